"""JSON API under /api/: the same operations as the pages, the same login and CSRF rules.

Scripts log in through /login (form) and send the session's CSRF token (GET /api/me returns it)
in the ``X-CSRF-Token`` header with every POST. The OpenAPI description is /api/openapi.json.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from incident import inbox, users
from incident.models import CloseReason, ReplyKind
from incident.web import deps, queries
from incident.web.auth import csrf_token
from incident.web.cards import card_json, load_card, row_json
from incident.web.deps import CurrentUser, Id, QueueFilterDep
from incident.web.display import STATUS_TITLES, person_name
from incident.web.rating import with_rating_link

router = APIRouter(prefix="/api", tags=["incidents"])


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    csrf_token: str


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    kind: ReplyKind = ReplyKind.ANSWER
    reply_id: str | None = Field(default=None, max_length=100)


class GroupReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    ids: list[Id] = Field(min_length=1, max_length=inbox.MAX_GROUP)


class GroupReplyOut(BaseModel):
    queued: dict[int, int]  # incident id -> outbox id
    refused: dict[int, str]  # incident id -> why (Russian)


class CloseIn(BaseModel):
    reason: CloseReason


class TopicIn(BaseModel):
    topic: str = Field(min_length=1, max_length=32)


class AssignIn(BaseModel):
    assignee: str | None = Field(default=None, max_length=64)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class RetryIn(BaseModel):
    outbox_id: Id


class ClaimIn(BaseModel):
    force: bool = False


class DraftIn(BaseModel):
    text: str = Field(max_length=inbox.MAX_DRAFT)
    kind: str | None = Field(default=None, max_length=32)
    reply_id: str | None = Field(default=None, max_length=100)
    claim: bool = True  # the first edit takes the incident when nobody else holds it


class DraftOut(BaseModel):
    saved: bool = True
    claimed_by: str | None = None
    claimed_by_name: str | None = None  # as people know them
    mine: bool = False


class Done(BaseModel):
    ok: bool = True
    outbox_id: int | None = None
    claimed_by: str | None = None


def _refused(exc: inbox.ActionRefused) -> HTTPException:
    return HTTPException(409, str(exc))


@router.get("/me")
def me(request: Request, user: CurrentUser) -> Me:
    """Who is logged in, and the CSRF token to send with POST requests."""
    return Me(
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        csrf_token=csrf_token(request),
    )


@router.get("/incidents")
def list_incidents(
    request: Request,
    user: CurrentUser,
    platform: str | None = None,
    community: str | None = None,
    topic: str | None = None,
    status: Literal["open", "answered", "closed", "all"] = "open",
    mine: bool = False,
    overdue: bool = False,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """The queue: oldest deadline first, 50 at a time, with the same filters as the page."""
    f = queries.QueueFilter(platform, community, topic, status, mine, overdue, q, offset)
    now = deps.now(request)
    with deps.engine(request).connect() as conn:
        rows = queries.queue(conn, f, user.username, now)
        marks, similar = queries.row_marks(conn, rows)
        total = queries.count(conn, f, user.username, now)
    return {
        "items": [
            {**row_json(r, now), "topic_mark": marks.get(r.id), "similar": similar.get(r.id, 0)}
            for r in rows
        ],
        "total": total,
        "total_capped": total > queries.COUNT_CAP,
        "offset": offset,
    }


@router.get("/incidents/{incident_id}")
def get_incident(
    request: Request, incident_id: Id, user: CurrentUser, claim: bool = False
) -> dict[str, Any]:
    """The card: comment, thread, verdict, drafts, replies, notes and history.
    ``claim=true`` takes the incident for the caller for a few minutes, as opening the page
    does."""
    now = deps.now(request)
    if claim:
        try:
            with deps.engine(request).begin() as conn:
                inbox.claim(conn, incident_id, user.username, now)
        except inbox.ActionRefused as exc:
            raise HTTPException(404, str(exc)) from exc
    with deps.engine(request).connect() as conn:
        data = load_card(conn, incident_id, user.username, now, deps.suggestions(request))
        group = inbox.group_of(conn, incident_id)
    if data is None:
        raise HTTPException(404, f"Инцидента №{incident_id} нет.")
    return {
        **card_json(data, now),
        "group": [
            {
                "id": m.id,
                "status": m.status,
                "author_name": m.author_name,
                "text": m.text,
                "replied": m.replied,
            }
            for m in group
        ],
    }


def _run(request: Request, work: Callable[[Any, datetime], Any]) -> Any:
    try:
        with deps.engine(request).begin() as conn:
            return work(conn, deps.now(request))
    except inbox.ActionRefused as exc:
        raise _refused(exc) from exc


@router.post("/incidents/{incident_id}/group-reply")
def group_reply(
    request: Request, incident_id: Id, body: GroupReplyIn, user: CurrentUser
) -> GroupReplyOut:
    """One answer for the chosen incidents of this incident's group, each with its author's
    greeting and checked as a reply of its own; 409 when the incident is in no group."""

    def work(conn: Any, now: datetime) -> inbox.GroupReply:
        row = queries.incident(conn, incident_id)
        limit = deps.suggestions(request).limit(row.platform) if row else None

        def finish(target: int, personal: str) -> str:
            return with_rating_link(request, conn, target, personal, None, user.username, now)

        return inbox.reply_to_group(
            conn,
            incident_id,
            body.ids,
            body.text,
            user.username,
            now,
            kind=ReplyKind.ANSWER,
            limit=limit,
            finish=finish,
        )

    done: inbox.GroupReply = _run(request, work)
    return GroupReplyOut(queued=done.queued, refused=done.refused)


@router.post("/incidents/{incident_id}/reply")
def reply(request: Request, incident_id: Id, body: ReplyIn, user: CurrentUser) -> Done:
    """Queue a public reply; the worker posts it. 409 if a reply is already sent or waiting,
    someone else holds the incident, or the text still has a ``[placeholder]``; the refused
    text is kept as the caller's draft."""

    def work(conn: Any, now: datetime) -> int:
        row = queries.incident(conn, incident_id)
        limit = deps.suggestions(request).limit(row.platform) if row else None
        text = body.text
        if row is not None and text.strip():
            text = with_rating_link(
                request, conn, incident_id, text, body.reply_id, user.username, now
            )
        return inbox.queue_reply(
            conn,
            incident_id,
            text,
            user.username,
            now,
            kind=body.kind,
            reply_id=body.reply_id,
            limit=limit,
        )

    try:
        return Done(outbox_id=_run(request, work))
    except HTTPException:
        try:
            with deps.engine(request).begin() as conn:
                inbox.save_draft(
                    conn,
                    incident_id,
                    user.username,
                    body.text,
                    deps.now(request),
                    kind=body.kind.value,
                    reply_id=body.reply_id,
                )
        except inbox.ActionRefused:
            pass  # no such incident: the refusal says so
        raise


@router.post("/incidents/{incident_id}/draft")
def save_draft(request: Request, incident_id: Id, body: DraftIn, user: CurrentUser) -> DraftOut:
    """Keep what the caller typed in the editor (the card saves it as they type). With
    ``claim`` (the default) the incident is taken for them too when nobody else holds it:
    the first edit claims, as «Взять» does."""

    def work(conn: Any, now: datetime) -> DraftOut:
        inbox.save_draft(
            conn,
            incident_id,
            user.username,
            body.text,
            now,
            kind=body.kind,
            reply_id=body.reply_id,
        )
        inbox.see_card(conn, incident_id, user.username, now, editing=True)
        held = inbox.claim(conn, incident_id, user.username, now) if body.claim else None
        by = held.by if held else None
        name = person_name(by, users.display_names(conn)) if by else None
        return DraftOut(claimed_by=by, claimed_by_name=name, mine=by == user.username)

    result: DraftOut = _run(request, work)
    return result


@router.get("/live")
def live(
    request: Request,
    user: CurrentUser,
    f: QueueFilterDep,  # the queue's own filters (its page and order do not matter here)
    incident: Annotated[Id | None, Query()] = None,
    since: Annotated[int, Query(ge=0, le=deps.MAX_ID)] = 0,
    editing: bool = False,
) -> dict[str, Any]:
    """What changed, for the open page to poll every few seconds (one mechanism for the queue
    and the card).

    ``newest``: the highest incident id; ``new``: how many incidents under the queue's filters
    (all pages) came in after incident ``since``. With ``incident``, the caller has that card
    open (recorded, with ``editing``) and ``card`` says its state: status, who holds it, who
    else has it open, and its replies' statuses."""
    now = deps.now(request)
    out: dict[str, Any] = {}
    if incident is not None:
        with deps.engine(request).begin() as conn:
            row = queries.incident(conn, incident)
            if row is None:
                raise HTTPException(404, f"Инцидента №{incident} нет.")
            inbox.see_card(conn, incident, user.username, now, editing=editing)
        with deps.engine(request).connect() as conn:
            out["card"] = live_card(conn, row, user.username, now)
    with deps.engine(request).connect() as conn:
        out["newest"] = queries.newest_open_id(conn)
        out["new"] = queries.count_new(conn, f, user.username, now, since) if since else 0
    return out


def live_card(conn: Any, row: Any, user: str, now: datetime) -> dict[str, Any]:
    held = inbox.Claim(row.claimed_by, row.claimed_until)
    live_holder = row.claimed_by if held.until is not None and held.until > now else None
    replies = queries.replies(conn, row.id)
    answered = row.status == "answered" or any(
        r.status in ("pending", "sending", "posted") for r in replies
    )
    names = users.display_names(conn)  # people are shown by name, never by login
    return {
        "status": row.status,
        "status_title": STATUS_TITLES.get(row.status, row.status),
        "answered": answered,
        "claimed_by": live_holder,
        "claimed_by_name": person_name(live_holder, names) if live_holder else None,
        "claimed_by_other": held.held_by_other(user, now),
        "mine": live_holder == user,
        "viewers": [
            {"username": v.username, "name": person_name(v.username, names), "editing": v.editing}
            for v in inbox.viewers(conn, row.id, now, besides=user)
        ],
        "replies": [{"id": r.id, "status": r.status} for r in replies],
    }


@router.post("/incidents/{incident_id}/retry")
def retry(request: Request, incident_id: Id, body: RetryIn, user: CurrentUser) -> Done:
    _run(request, lambda c, n: inbox.retry_reply(c, incident_id, body.outbox_id, user.username, n))
    return Done(outbox_id=body.outbox_id)


@router.post("/incidents/{incident_id}/close")
def close(request: Request, incident_id: Id, body: CloseIn, user: CurrentUser) -> Done:
    """Mark "no answer needed" with a reason."""
    reason = body.reason
    _run(request, lambda c, n: inbox.close_no_answer(c, incident_id, reason, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/reopen")
def reopen(request: Request, incident_id: Id, user: CurrentUser) -> Done:
    _run(request, lambda c, n: inbox.reopen(c, incident_id, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/topic")
def topic(request: Request, incident_id: Id, body: TopicIn, user: CurrentUser) -> Done:
    """Change the topic to one of the loaded rules' topics (422 otherwise); recorded as a
    correction for improving the rules."""
    chosen = deps.known_topic(request, body.topic, 422)
    _run(request, lambda c, n: inbox.change_topic(c, incident_id, chosen, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/topic/confirm")
def confirm_topic(request: Request, incident_id: Id, user: CurrentUser) -> Done:
    """Confirm the incident's current topic («верно»); counted per topic in /api/stats. 409
    when there is no topic or it is confirmed already."""
    _run(request, lambda c, n: inbox.confirm_topic(c, incident_id, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/assign")
def assign(request: Request, incident_id: Id, body: AssignIn, user: CurrentUser) -> Done:
    _run(request, lambda c, n: inbox.assign(c, incident_id, body.assignee, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/notes")
def add_note(request: Request, incident_id: Id, body: NoteIn, user: CurrentUser) -> Done:
    _run(request, lambda c, n: inbox.add_note(c, incident_id, body.text, user.username, n))
    return Done()


@router.post("/incidents/{incident_id}/claim")
def claim(request: Request, incident_id: Id, body: ClaimIn, user: CurrentUser) -> Done:
    """Take the incident for a few minutes (``force`` takes it over from someone else)."""
    got = _run(
        request,
        lambda c, n: inbox.claim(c, incident_id, user.username, n, force=body.force),
    )
    return Done(ok=got.by == user.username, claimed_by=got.by)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, user: CurrentUser) -> JSONResponse:
    return JSONResponse(_schema(request))


@router.get("/docs", include_in_schema=False)
def docs(request: Request, user: CurrentUser) -> HTMLResponse:
    """A plain list of the API's operations (no CDN-hosted Swagger UI)."""
    schema = _schema(request)
    templates = request.app.state.templates
    ops = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                }
            )
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "api_docs.html",
        {"ops": ops, "user": user, "csrf": csrf_token(request), "flash": None},
    )
    return response


def _schema(request: Request) -> dict[str, Any]:
    app = request.app
    if getattr(app.state, "openapi", None) is None:
        app.state.openapi = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=__doc__
        )
    schema: dict[str, Any] = app.state.openapi
    return schema
