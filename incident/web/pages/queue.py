"""The queue of incidents: the page with its filters, and its rows alone for the live refresh."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from incident import inbox
from incident.models import CloseReason
from incident.users import User
from incident.web import deps, queries
from incident.web.deps import CurrentUser, Id, QueueFilterDep

PAGE_MAX = 200  # rows one bulk action may name

router = APIRouter(include_in_schema=False)


def _queue_context(
    request: Request, f: queries.QueueFilter, user: User, since: int | None = None
) -> dict[str, Any]:
    now = deps.now(request)
    with deps.engine(request).connect() as conn:
        rows = queries.queue(conn, f, user.username, now)
        marks, similar = queries.row_marks(conn, rows)
        total = queries.count(conn, f, user.username, now)
        newest = queries.newest_open_id(conn)
        platforms = queries.choices(conn)["platforms"]
        communities = queries.source_names(conn)
        saved = inbox.saved_filters(conn, user.username)
    s = deps.suggestions(request)
    query = urlencode(f.as_query())
    return {
        "rows": rows,
        "marks": marks,
        "similar": similar,
        "f": f,
        "total": total,
        "cap": queries.COUNT_CAP,
        "newest": newest,
        "since": newest if since is None else since,
        "platforms": platforms,
        "communities": communities,
        "topics": s.topics,
        "topic_title": s.title,
        "query": query,
        "page_query": urlencode({**f.as_query(), "offset": f.offset}) if f.offset else query,
        "more": urlencode({**f.as_query(), "offset": f.offset + queries.PAGE}),
        "page": queries.PAGE,
        "refresh": request.app.state.settings.refresh_seconds,
        "saved": saved,
        "reasons": list(CloseReason),
    }


Since = Annotated[int | None, Query(ge=0, le=deps.MAX_ID)]


@router.get("/queue")
def queue_page(request: Request, user: CurrentUser, f: QueueFilterDep) -> Response:
    """The queue: urgent incidents on top, then by deadline (or newest first), filtered."""
    context = _queue_context(request, f, user)
    request.session["queue_query"] = context["page_query"]  # the card's «← Очередь»
    return deps.render(request, "queue.html", context)


@router.get("/queue/rows")
def queue_rows(
    request: Request, user: CurrentUser, f: QueueFilterDep, since: Since = None
) -> Response:
    """The table body alone, for the live refresh; rows after incident ``since`` are marked
    new."""
    return deps.render(request, "_rows.html", _queue_context(request, f, user, since))


@router.post("/queue/close")
def close_selected(
    request: Request,
    user: CurrentUser,
    reason: Annotated[str, Form(max_length=32)] = "",
    ids: Annotated[list[Id] | None, Form(max_length=PAGE_MAX)] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """«Ответ не требуется» for the selected rows at once, with one reason (spam, say). Each is
    closed on its own: one that is not open or has a reply waiting is left as it is and
    counted in the message."""
    target = "/queue" + (f"?{back}" if back and not back.startswith(("/", "\\")) else "")
    if reason not in {r.value for r in CloseReason}:
        deps.flash(request, "Выберите причину, по которой ответ не нужен.", "error")
        return deps.back(target)
    chosen = sorted(set(ids or []))
    if not chosen:
        deps.flash(request, "Отметьте инциденты в списке.", "error")
        return deps.back(target)
    done, refused = 0, 0
    for incident_id in chosen:
        try:
            with deps.engine(request).begin() as conn:
                inbox.close_no_answer(
                    conn, incident_id, CloseReason(reason), user.username, deps.now(request)
                )
            done += 1
        except inbox.ActionRefused:
            refused += 1
    message = f"Закрыто без ответа: {done}."
    if refused:
        message += f" Не закрыто (уже не открыты или ответ ждёт отправки): {refused}."
    deps.flash(request, message, "error" if refused and not done else "ok")
    return deps.back(target)


@router.post("/queue/filters")
def save_view(
    request: Request,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save the queue's current filters under a name (for this user only)."""
    clean = urlencode(queries.filter_from_query(query).as_query())
    with deps.action(request) as conn:
        inbox.save_filter(conn, user.username, name, clean, deps.now(request))
        deps.flash(request, "Фильтр сохранён.")
    return deps.back("/queue" + (f"?{clean}" if clean else ""))


@router.post("/queue/filters/{filter_id}/delete")
def delete_view(request: Request, user: CurrentUser, filter_id: Id) -> Response:
    """Remove one of the user's saved filters."""
    with deps.action(request) as conn:
        inbox.delete_filter(conn, user.username, filter_id)
        deps.flash(request, "Фильтр удалён.")
    return deps.back("/queue")
