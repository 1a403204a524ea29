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

router = APIRouter(include_in_schema=False)


def _card_context(request: Request, incident_id: Id, user: User) -> dict[str, Any]:
    now = deps.now(request)
    s = deps.suggestions(request)
    with deps.engine(request).connect() as conn:
        data = load_card(conn, incident_id, user.username, now, s)
        people = queries.active_usernames(conn)
    if data is None:
        raise HTTPException(404, f"Инцидента №{incident_id} нет.")
    return {
        **data,
        "people": people,
        "topics": s.topics,
        "reasons": list(CloseReason),
        "redirects": s.redirects,
    }


def _card(incident_id: Id) -> str:
    return f"/incidents/{incident_id}"


@router.get("/incidents/{incident_id}")
def card_page(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """The card; opening it takes the incident for the viewer for a few minutes."""
    now = deps.now(request)
    try:
        with deps.engine(request).begin() as conn:
            inbox.claim(conn, incident_id, user.username, now)
    except inbox.ActionRefused as exc:
        raise HTTPException(404, str(exc)) from exc
    return deps.render(request, "card.html", _card_context(request, incident_id, user))


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
    """Queue the public reply for the worker to post (within the platform's length limit)."""
    kinds = {k.value for k in ReplyKind}
    with deps.action(request) as conn:
        platform = queries.incident(conn, incident_id)
        limit = deps.suggestions(request).limit(platform.platform) if platform else None
        if platform is not None and text.strip():
            text = with_rating_link(
                request, conn, incident_id, text, reply_id, user.username, deps.now(request)
            )
        inbox.queue_reply(
            conn,
            incident_id,
            text,
            user.username,
            deps.now(request),
            kind=ReplyKind(kind) if kind in kinds else ReplyKind.ANSWER,
            reply_id=reply_id or None,
            limit=limit,
        )
        deps.flash(request, "Ответ поставлен в очередь: сейчас его опубликуют.")
    return deps.back(_card(incident_id))


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


@router.post("/incidents/{incident_id}/release")
def release(request: Request, incident_id: Id, user: CurrentUser) -> Response:
    """Let the incident go and return to the queue."""
    with deps.action(request) as conn:
        inbox.release(conn, incident_id, user.username, deps.now(request))
    return deps.back("/queue")
