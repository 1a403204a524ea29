"""Server-rendered pages: login, queue, incident card, staff actions, admin pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine

from incident import staff, users
from incident.models import CloseReason, ReplyKind
from incident.users import Role, User
from incident.web import queries
from incident.web.auth import (
    client_address,
    csrf_token,
    current_user,
    end_session,
    require,
    session_user,
    start_session,
)
from incident.web.cards import load_card
from incident.web.suggestions import Suggestions

router = APIRouter(include_in_schema=False)

CurrentUser = Annotated[User, Depends(current_user)]
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _knowledge(request: Request) -> Suggestions:
    k: Suggestions = request.app.state.knowledge
    return k


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    flash = request.session.pop("flash", None)
    base = {
        "user": user,
        "csrf": csrf_token(request),
        "flash": flash,
        "now": _now(request),
        "Role": Role,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    return response


def _flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"text": message, "kind": kind}


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@contextmanager
def _action(request: Request, back: str) -> Iterator[Connection]:
    """A transaction for one staff action; a refusal becomes a message on the page."""
    try:
        with _engine(request).begin() as conn:
            yield conn
    except staff.ActionRefused as exc:
        _flash(request, str(exc), "error")
    except users.UserError as exc:
        _flash(request, str(exc), "error")


# --- login -------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/queue"
    return value


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if session_user(request) is not None:
        return _back(_safe_next(next))
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/queue",
) -> Response:
    now = _now(request)
    error = None
    try:
        with _engine(request).begin() as conn:
            user = users.authenticate(
                conn, username, password, now, address=client_address(request)
            )
    except users.LoginLocked as exc:
        minutes = max(1, int((exc.until - now).total_seconds() // 60) + 1)
        error = f"Слишком много неудачных попыток. Попробуйте через {minutes} мин."
        user = None
    if user is None:
        error = error or "Неверный логин или пароль."
        return render(
            request, "login.html", {"next": _safe_next(next), "error": error}, status_code=401
        )
    start_session(request, user, now)
    return _back(_safe_next(next))


@router.post("/logout")
def logout(request: Request, user: CurrentUser) -> Response:
    end_session(request)
    return _back("/login")


# --- queue -------------------------------------------------------------------------------


def _filter(
    platform: Annotated[str | None, Query(max_length=32)] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    topic: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    mine: Annotated[str | None, Query(max_length=8)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> queries.QueueFilter:
    return queries.QueueFilter(
        platform=(platform or None),
        community=(community or None),
        topic=(topic or None),
        status=status if status in queries.STATUSES else "open",
        mine=bool(mine),
        overdue=bool(overdue),
        q=(q or "").strip()[:200] or None,
        offset=max(0, min(offset, 100_000)),
    )


QueueFilterDep = Annotated[queries.QueueFilter, Depends(_filter)]


@router.get("/")
def home(user: CurrentUser) -> Response:
    return _back("/queue")


def _queue_context(request: Request, f: queries.QueueFilter, user: User) -> dict[str, Any]:
    now = _now(request)
    with _engine(request).connect() as conn:
        rows = queries.queue(conn, f, user.username, now)
        total = queries.count(conn, f, user.username, now)
        newest = queries.newest_open_id(conn)
        platforms = queries.choices(conn)["platforms"]
        communities = queries.communities(conn)
    k = _knowledge(request)
    return {
        "rows": rows,
        "f": f,
        "total": total,
        "cap": queries.COUNT_CAP,
        "newest": newest,
        "platforms": platforms,
        "communities": communities,
        "topics": k.topics,
        "topic_title": k.title,
        "query": urlencode(f.as_query()),
        "more": urlencode({**f.as_query(), "offset": f.offset + queries.PAGE}),
        "page": queries.PAGE,
        "refresh": request.app.state.settings.refresh_seconds,
    }


@router.get("/queue")
def queue_page(request: Request, user: CurrentUser, f: QueueFilterDep) -> Response:
    return render(request, "queue.html", _queue_context(request, f, user))


@router.get("/queue/rows")
def queue_rows(request: Request, user: CurrentUser, f: QueueFilterDep) -> Response:
    """The table body alone, for the live refresh."""
    return render(request, "_rows.html", _queue_context(request, f, user))


# --- the card ----------------------------------------------------------------------------


def _card_context(request: Request, incident_id: int, user: User) -> dict[str, Any]:
    now = _now(request)
    with _engine(request).connect() as conn:
        data = load_card(conn, incident_id, user.username, now, _knowledge(request))
        people = queries.active_usernames(conn)
    if data is None:
        raise HTTPException(404, f"Инцидента №{incident_id} нет.")
    k = _knowledge(request)
    return {
        **data,
        "people": people,
        "topics": k.topics,
        "reasons": list(CloseReason),
        "redirects": k.redirects,
    }


@router.get("/incidents/{incident_id}")
def card_page(request: Request, incident_id: int, user: CurrentUser) -> Response:
    now = _now(request)
    try:
        with _engine(request).begin() as conn:
            staff.claim(conn, incident_id, user.username, now)
    except staff.ActionRefused as exc:
        raise HTTPException(404, str(exc)) from exc
    return render(request, "card.html", _card_context(request, incident_id, user))


@router.get("/incidents/{incident_id}/replies")
def card_replies(request: Request, incident_id: int, user: CurrentUser) -> Response:
    """The reply status block alone, refreshed while a reply waits for the worker."""
    with _engine(request).connect() as conn:
        replies = queries.replies(conn, incident_id)
    return render(request, "_replies.html", {"replies": replies, "incident_id": incident_id})


def _card(incident_id: int) -> str:
    return f"/incidents/{incident_id}"


@router.post("/incidents/{incident_id}/reply")
def send_reply(
    request: Request,
    incident_id: int,
    user: CurrentUser,
    text: Annotated[str, Form(max_length=20_000)],
    kind: Annotated[str, Form()] = "answer",
    reply_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    kinds = {k.value for k in ReplyKind}
    with _action(request, _card(incident_id)) as conn:
        platform = queries.incident(conn, incident_id)
        limit = _knowledge(request).limit(platform.platform) if platform else None
        staff.send_reply(
            conn,
            incident_id,
            text,
            user.username,
            _now(request),
            kind=ReplyKind(kind) if kind in kinds else ReplyKind.ANSWER,
            reply_id=reply_id or None,
            limit=limit,
        )
        _flash(request, "Ответ поставлен в очередь: сейчас его опубликуют.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/retry")
def retry(
    request: Request, incident_id: int, user: CurrentUser, outbox_id: Annotated[int, Form()]
) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.retry_reply(conn, incident_id, outbox_id, user.username, _now(request))
        _flash(request, "Отправим ещё раз.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/close")
def close(
    request: Request, incident_id: int, user: CurrentUser, reason: Annotated[str, Form()]
) -> Response:
    if reason not in {r.value for r in CloseReason}:
        raise HTTPException(400, "Выберите причину.")
    with _action(request, _card(incident_id)) as conn:
        staff.close_no_answer(conn, incident_id, CloseReason(reason), user.username, _now(request))
        _flash(request, "Закрыт без ответа.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/reopen")
def reopen(request: Request, incident_id: int, user: CurrentUser) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.reopen(conn, incident_id, user.username, _now(request))
        _flash(request, "Инцидент снова открыт.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/topic")
def topic(
    request: Request,
    incident_id: int,
    user: CurrentUser,
    topic: Annotated[str, Form(max_length=32)],
) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.change_topic(conn, incident_id, topic, user.username, _now(request))
        _flash(request, "Тема изменена; исправление сохранено для улучшения правил.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/assign")
def assign(
    request: Request,
    incident_id: int,
    user: CurrentUser,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.assign(conn, incident_id, assignee, user.username, _now(request))
        _flash(request, "Ответственный назначен." if assignee else "Ответственный снят.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/note")
def note(
    request: Request,
    incident_id: int,
    user: CurrentUser,
    text: Annotated[str, Form(max_length=10_000)],
) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.add_note(conn, incident_id, text, user.username, _now(request))
        _flash(request, "Заметка добавлена.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/claim")
def take_over(request: Request, incident_id: int, user: CurrentUser) -> Response:
    with _action(request, _card(incident_id)) as conn:
        staff.claim(conn, incident_id, user.username, _now(request), force=True)
        _flash(request, "Инцидент теперь у вас.")
    return _back(_card(incident_id))


@router.post("/incidents/{incident_id}/release")
def release(request: Request, incident_id: int, user: CurrentUser) -> Response:
    with _action(request, "/queue") as conn:
        staff.release(conn, incident_id, user.username, _now(request))
    return _back("/queue")


# --- admins (the supervisors' statistics are in stats_views.py) -----------------------------


@router.get("/admin/users")
def admin_users(request: Request, user: Admin) -> Response:
    with _engine(request).connect() as conn:
        people = users.list_users(conn)
    return render(request, "users.html", {"people": people, "roles": list(Role)})


@router.post("/admin/users")
def admin_add_user(
    request: Request,
    user: Admin,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    if role not in {r.value for r in Role}:
        raise HTTPException(400, "Нет такой роли.")
    with _action(request, "/admin/users") as conn:
        users.add_user(
            conn,
            username,
            password,
            Role(role),
            _now(request),
            display_name=display_name or None,
            actor=user.username,
        )
        _flash(request, f"Пользователь {username} добавлен.")
    return _back("/admin/users")


@router.post("/admin/users/{username}/disable")
def admin_disable(request: Request, username: str, user: Admin) -> Response:
    if username == user.username:
        raise HTTPException(400, "Нельзя отключить самого себя.")
    with _action(request, "/admin/users") as conn:
        users.set_disabled(conn, username, True, _now(request), actor=user.username)
        _flash(request, f"Пользователь {username} отключён.")
    return _back("/admin/users")


@router.post("/admin/users/{username}/enable")
def admin_enable(request: Request, username: str, user: Admin) -> Response:
    with _action(request, "/admin/users") as conn:
        users.set_disabled(conn, username, False, _now(request), actor=user.username)
        _flash(request, f"Пользователь {username} снова может войти.")
    return _back("/admin/users")


@router.post("/admin/users/{username}/password")
def admin_password(
    request: Request,
    username: str,
    user: Admin,
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    with _action(request, "/admin/users") as conn:
        users.set_password(conn, username, password, _now(request), actor=user.username)
        _flash(request, f"Пароль пользователя {username} изменён.")
    return _back("/admin/users")


@router.post("/admin/users/{username}/role")
def admin_role(
    request: Request, username: str, user: Admin, role: Annotated[str, Form()]
) -> Response:
    if role not in {r.value for r in Role}:
        raise HTTPException(400, "Нет такой роли.")
    with _action(request, "/admin/users") as conn:
        users.set_role(conn, username, Role(role), _now(request), actor=user.username)
        _flash(request, f"Роль пользователя {username} изменена.")
    return _back("/admin/users")


@router.get("/admin/audit")
def admin_audit(
    request: Request, user: Admin, before: Annotated[int | None, Query()] = None
) -> Response:
    with _engine(request).connect() as conn:
        events = queries.audit_log(conn, before)
    older = events[-1].id if len(events) == 100 else None
    return render(request, "audit.html", {"events": events, "older": older})
