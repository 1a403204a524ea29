"""The incident card: the page, its reply-status fragment, and the staff actions posted from it
(send, retry, close, reopen, topic, assign, note, take over, release)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from incident import inbox
from incident.models import CloseReason, ReplyKind
from incident.users import User
from incident.web import deps, queries
from incident.web.cards import load_card
from incident.web.deps import CurrentUser, Id
from incident.web.rating import with_rating_link
from incident.web.suggestions import redirect_text
from incident.words import APPEALS, count

router = APIRouter(include_in_schema=False)


def _card_context(request: Request, incident_id: Id, user: User) -> dict[str, Any]:
    now = deps.now(request)
    s = deps.suggestions(request)
    with deps.engine(request).connect() as conn:
        data = load_card(conn, incident_id, user.username, now, s)
        people = queries.active_usernames(conn)
        draft = inbox.draft_of(conn, incident_id, user.username)
        group = inbox.group_of(conn, incident_id)
    if data is None:
        raise HTTPException(404, f"Инцидента №{incident_id} нет.")
    return {
        **data,
        **editor_start(data, draft),
        "people": people,
        "group": group,
        "topics": s.topics,
        "reasons": list(CloseReason),
        "redirect_options": redirect_options(data["drafts"], s.redirects),
        "back": "/queue" + (f"?{q}" if (q := queue_query(request)) else ""),
    }


def editor_start(data: dict[str, Any], draft: inbox.Draft | None) -> dict[str, Any]:
    """What the reply editor opens with: the user's own draft when they typed one (kept on the
    server), else the best suggested reply: for a comment outside the committee's competence
    the best redirect, otherwise the best answer that is neither a redirect nor a move to
    private messages."""
    if draft is not None:
        return {
            "editor_text": draft.text,
            "editor_kind": draft.kind or "answer",
            "editor_reply_id": draft.reply_id or "",
            "editor_draft": draft,
        }
    drafts = data["drafts"]
    verdict = data["verdict"] or {}
    if verdict.get("in_competence") is False:
        wanted: tuple[str, ...] = ("redirect",)
    else:
        wanted = ("answer", "thanks", "clarify")
    first = next((d for d in drafts if d.kind in wanted), None)
    if first is None:
        first = next((d for d in drafts if d.kind not in ("move-to-private", "redirect")), None)
    return {
        "editor_text": first.text if first else "",
        "editor_kind": first.kind if first else "answer",
        "editor_reply_id": first.reply_id if first else "",
        "editor_draft": None,
    }


def redirect_options(drafts: list[Any], redirects: list[Any]) -> list[dict[str, str]]:
    """The "to another body" picker: each body once, labelled by its name, with the ranked
    redirect draft that names it when there is one, else the built-in redirect text."""
    ranked = [d for d in drafts if d.kind == "redirect"]
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for r in redirects:
        body = " ".join(str(r.body).split())
        if not body or body.casefold() in seen:
            continue
        seen.add(body.casefold())
        own = next((d for d in ranked if body in d.text), None)
        out.append(
            {
                "label": body,
                "text": own.text if own else redirect_text(body),
                "reply_id": own.reply_id if own else f"builtin-redirect-{r.id}",
            }
        )
    return out


def queue_query(request: Request) -> str:
    """The queue's filters as the user last left them (kept in the session by the queue page)."""
    value = request.session.get("queue_query")
    return value if isinstance(value, str) and len(value) <= 2000 else ""


def _card(incident_id: Id) -> str:
    return f"/incidents/{incident_id}"


@router.get("/incidents/{incident_id}")
def card_page(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """The card. Opening it takes nothing: the incident is claimed on the first edit in the
    editor, or with «Взять»; the card only records that the viewer has it open."""
    context = _card_context(request, incident_id, user)
    now = deps.now(request)
    with deps.engine(request).begin() as conn:
        inbox.see_card(conn, incident_id, user.username, now)
        inbox.forget_old_viewers(conn, now)  # cards closed without a word
    return deps.render(request, "card.html", context)


@router.get("/incidents/{incident_id}/next")
def next_incident(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """The next open incident of the queue (with the user's filters) that nobody else holds."""
    f = queries.filter_from_query(queue_query(request))
    now = deps.now(request)
    with deps.engine(request).connect() as conn:
        found = queries.next_free(conn, f, user.username, now, besides=incident_id)
    if found is None:
        deps.flash(request, "Больше открытых инцидентов, которые никто не ведёт, нет.")
        q = queue_query(request)
        return deps.back("/queue" + (f"?{q}" if q else ""))
    return deps.back(_card(found))


@router.get("/incidents/{incident_id}/replies")
def card_replies(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """The reply status block alone, refreshed while a reply waits for the worker."""
    with deps.engine(request).connect() as conn:
        replies = queries.replies(conn, incident_id)
    return deps.render(request, "_replies.html", {"replies": replies, "incident_id": incident_id})


@router.post("/incidents/{incident_id}/reply")
def send_reply(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    text: Annotated[str, Form(max_length=20_000)],
    kind: Annotated[str, Form()] = "answer",
    reply_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Queue the public reply for the worker to post (within the platform's length limit).
    A refused reply is kept as the user's draft, so the card shows it again as typed."""
    kinds = {k.value for k in ReplyKind}
    chosen = ReplyKind(kind) if kind in kinds else ReplyKind.ANSWER
    now = deps.now(request)
    try:
        with deps.engine(request).begin() as conn:
            platform = queries.incident(conn, incident_id)
            limit = deps.suggestions(request).limit(platform.platform) if platform else None
            sent = text
            if platform is not None and text.strip():
                # the «оцените ответ» link; the draft kept on a refusal is the text as typed
                sent = with_rating_link(
                    request, conn, incident_id, text, reply_id, user.username, now
                )
            inbox.queue_reply(
                conn,
                incident_id,
                sent,
                user.username,
                now,
                kind=chosen,
                reply_id=reply_id or None,
                limit=limit,
            )
    except inbox.ActionRefused as exc:
        deps.flash(request, str(exc), "error")
        keep_draft(request, incident_id, user, text, chosen.value, reply_id)
    else:
        deps.flash(request, "Ответ поставлен в очередь: сейчас его опубликуют.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/group-reply")
def send_group_reply(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    text: Annotated[str, Form(max_length=20_000)],
    ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """«Ответить всем»: one answer queued for each ticked incident of the card's group, each
    with its author's greeting, each checked as a reply of its own. What was typed is kept as
    the user's draft of this incident whenever any reply was refused."""
    now = deps.now(request)
    chosen = [i for i in ids or [] if 0 < i <= deps.MAX_ID][: inbox.MAX_GROUP]
    if not chosen:
        deps.flash(request, "Отметьте обращения, которым нужен этот ответ.", "error")
        keep_draft(request, incident_id, user, text, ReplyKind.ANSWER.value, None)
        return deps.back(_card(incident_id))
    try:
        with deps.engine(request).begin() as conn:
            platform = queries.incident(conn, incident_id)
            limit = deps.suggestions(request).limit(platform.platform) if platform else None

            def finish(target: int, personal: str) -> str:
                return with_rating_link(request, conn, target, personal, None, user.username, now)

            done = inbox.reply_to_group(
                conn,
                incident_id,
                chosen,
                text,
                user.username,
                now,
                kind=ReplyKind.ANSWER,
                limit=limit,
                finish=finish,
            )
    except inbox.ActionRefused as exc:
        deps.flash(request, str(exc), "error")
        keep_draft(request, incident_id, user, text, ReplyKind.ANSWER.value, None)
        return deps.back(_card(incident_id))
    sent = f"Ответ поставлен в очередь: {count(len(done.queued), APPEALS)}."
    if done.refused:
        why = "; ".join(f"№{i}: {reason}" for i, reason in sorted(done.refused.items())[:5])
        not_sent = f"Не отправлен: {count(len(done.refused), APPEALS)} ({why})"
        deps.flash(request, f"{sent} {not_sent}", "error")
        keep_draft(request, incident_id, user, text, ReplyKind.ANSWER.value, None)
    else:
        deps.flash(request, sent)
    return deps.back(_card(incident_id))


def keep_draft(
    request: Request, incident_id: int, user: User, text: str, kind: str, reply_id: str | None
) -> None:
    """Keep a refused reply's text as the user's draft (nothing a person typed is lost)."""
    try:
        with deps.engine(request).begin() as conn:
            inbox.save_draft(
                conn,
                incident_id,
                user.username,
                text,
                deps.now(request),
                kind=kind,
                reply_id=reply_id,
            )
    except inbox.ActionRefused:
        pass  # no such incident, or longer than any draft: the refusal already says why


@router.post("/incidents/{incident_id}/retry")
def retry(
    request: Request, incident_id: Id, user: CurrentUser, outbox_id: Annotated[Id, Form()]
) -> Response:
    """Send a failed reply again."""
    with deps.action(request) as conn:
        inbox.retry_reply(conn, incident_id, outbox_id, user.username, deps.now(request))
        deps.flash(request, "Отправим ещё раз.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/close")
def close(
    request: Request, incident_id: Id, user: CurrentUser, reason: Annotated[str, Form()]
) -> Response:
    """Close without an answer, for one of the listed reasons."""
    if reason not in {r.value for r in CloseReason}:
        raise HTTPException(400, "Выберите причину.")
    with deps.action(request) as conn:
        inbox.close_no_answer(
            conn, incident_id, CloseReason(reason), user.username, deps.now(request)
        )
        deps.flash(request, "Закрыт без ответа.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/reopen")
def reopen(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """Open a closed incident again."""
    with deps.action(request) as conn:
        inbox.reopen(conn, incident_id, user.username, deps.now(request))
        deps.flash(request, "Инцидент снова открыт.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/topic")
def topic(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    topic: Annotated[str, Form(max_length=32)],
) -> Response:
    """Correct the topic to one of the rules' topics (the correction is kept for improving
    the rules)."""
    topic = deps.known_topic(request, topic)
    with deps.action(request) as conn:
        inbox.change_topic(conn, incident_id, topic, user.username, deps.now(request))
        deps.flash(request, "Тема изменена; исправление сохранено для улучшения правил.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/topic/confirm")
def confirm_topic(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """The topic is right («верно»): kept and counted in the statistics."""
    with deps.action(request) as conn:
        inbox.confirm_topic(conn, incident_id, user.username, deps.now(request))
        deps.flash(request, "Тема подтверждена.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/assign")
def assign(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Name who is responsible; an empty name removes them."""
    with deps.action(request) as conn:
        inbox.assign(conn, incident_id, assignee, user.username, deps.now(request))
        deps.flash(request, "Ответственный назначен." if assignee else "Ответственный снят.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/note")
def note(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    text: Annotated[str, Form(max_length=10_000)],
) -> Response:
    """Add an internal note (staff only, never posted)."""
    with deps.action(request) as conn:
        inbox.add_note(conn, incident_id, text, user.username, deps.now(request))
        deps.flash(request, "Заметка добавлена.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/claim")
def take_over(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """Take the incident from whoever holds it (recorded)."""
    with deps.action(request) as conn:
        inbox.claim(conn, incident_id, user.username, deps.now(request), force=True)
        deps.flash(request, "Инцидент теперь у вас.")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/take")
def take(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """«Взять»: take a free incident (refused while someone else holds it)."""
    with deps.action(request) as conn:
        got = inbox.claim(conn, incident_id, user.username, deps.now(request))
        if got.by == user.username:
            deps.flash(request, "Инцидент теперь у вас.")
        else:
            deps.flash(request, f"Инцидент уже ведёт {got.by}.", "error")
    return deps.back(_card(incident_id))


@router.post("/incidents/{incident_id}/release")
def release(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """«Отпустить»: let the incident go (the draft stays) and return to the queue."""
    with deps.action(request) as conn:
        inbox.release(conn, incident_id, user.username, deps.now(request))
        inbox.leave_card(conn, incident_id, user.username)
        deps.flash(request, "Инцидент отпущен: его может взять любой.")
    q = queue_query(request)
    return deps.back("/queue" + (f"?{q}" if q else ""))


@router.post("/incidents/{incident_id}/leave")
def leave(
    request: Request,
    incident_id: Id,
    user: CurrentUser,
    text: Annotated[str | None, Form(max_length=inbox.MAX_DRAFT)] = None,
    kind: Annotated[str, Form(max_length=32)] = "",
    reply_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The card was closed (the page's ``pagehide`` beacon): text typed since the last
    autosave is kept as the draft, the user's claim is let go and they no longer show as
    viewing it."""
    now = deps.now(request)
    with deps.engine(request).begin() as conn:
        if text is not None:
            inbox.save_draft(
                conn, incident_id, user.username, text, now, kind=kind, reply_id=reply_id
            )
        inbox.release(conn, incident_id, user.username, now)
        inbox.leave_card(conn, incident_id, user.username)
    return Response(status_code=204)
