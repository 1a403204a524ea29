"""Everything an incident card shows, gathered once for the page and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from incident import inbox
from incident.web import display, queries
from incident.web.suggestions import Suggestions


def load_card(
    conn: Connection, incident_id: int, user: str, now: datetime, suggestions: Suggestions
) -> dict[str, Any] | None:
    """What the card shows of incident ``incident_id`` to ``user`` (None: no such incident),
    its drafts ranked for the verdict stored with it."""
    card = queries.incident(conn, incident_id)
    if card is None:
        return None
    verdict = card.verdict if isinstance(card.verdict, Mapping) else None
    matches = verdict.get("matches") if verdict else None
    model = display.model_note(verdict.get("model") if verdict else None, suggestions.title)
    claim = inbox.Claim(card.claimed_by, card.claimed_until)
    _, private_link = suggestions.place(card.platform, card.community)
    return {
        "card": card,
        "verdict": verdict,
        "matches": [*(matches if isinstance(matches, list) else []), *model_marks(model)],
        "model": model,
        "claim_by_other": claim.held_by_other(user, now),
        "thread": queries.thread(conn, card),
        "history_by_author": queries.author_history(conn, card),
        "replies": queries.replies(conn, incident_id),
        "events": queries.history(conn, incident_id),
        "notes": queries.notes(conn, incident_id),
        "drafts": suggestions.drafts(
            card.topic, verdict, card.platform, card.author_name, card.community
        ),
        "limit": suggestions.limit(card.platform),
        "link": display.original_link(
            card.platform, card.community, card.post_id, card.external_id, card.thread_root_id
        ),
        "post_link": display.post_link(card.platform, card.community, card.post_id),
        "private_link": display.safe_link(private_link),
        "platform_title": display.platform_title(card.platform),
        "topic_title": suggestions.title(card.topic),
        "topic_confirmed": queries.topic_confirmed(conn, incident_id, card.topic),
        "topic_corrected": bool(verdict and card.topic and verdict.get("topic") != card.topic),
        "runner_up_title": suggestions.title(verdict.get("runner_up")) if verdict else "—",
    }


def model_marks(model: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The words that pushed the model, as marks for the highlighted text."""
    if model is None:
        return []
    return [{"span": w["span"], "kind": "model"} for w in model["words"]]


def card_json(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    card = data["card"]
    left, level = display.time_left(card.due_at, now)
    return {
        "id": card.id,
        "platform": card.platform,
        "community": card.community,
        "status": card.status,
        "topic": card.topic,
        "topic_title": data["topic_title"],
        "topic_confirmed": data["topic_confirmed"],
        "topic_corrected": data["topic_corrected"],
        "verdict": data["verdict"],
        "assignee": card.assignee,
        "claimed_by": card.claimed_by,
        "claimed_until": _iso(card.claimed_until),
        "claimed_by_other": data["claim_by_other"],
        "due_at": _iso(card.due_at),
        "time_left": left,
        "deadline_level": level,
        "closed_reason": card.closed_reason,
        "link": data["link"],
        "platform_title": data["platform_title"],
        "private_link": data["private_link"],
        "comment": {
            "external_id": card.external_id,
            "post_id": card.post_id,
            "author_id": card.author_id,
            "author_name": card.author_name,
            "text": card.text,
            "published_at": _iso(card.published_at),
            "deleted": card.deleted,
        },
        "thread": [
            {
                "external_id": t.external_id,
                "author_name": t.author_name,
                "text": t.text,
                "from_community": t.from_community,
                "created_at": _iso(t.created_at),
            }
            for t in data["thread"]
        ],
        "author_history": [
            {"id": h.id, "status": h.status, "topic": h.topic, "text": h.text}
            for h in data["history_by_author"]
        ],
        "drafts": [asdict(d) for d in data["drafts"]],
        "limit": data["limit"],
        "replies": [
            {
                "id": r.id,
                "text": r.text,
                "status": r.status,
                "created_by": r.created_by,
                "posted_url": r.posted_url,
                "last_error": r.last_error,
            }
            for r in data["replies"]
        ],
        "notes": [
            {"author": n.author, "text": n.text, "created_at": _iso(n.created_at)}
            for n in data["notes"]
        ],
        "history": [
            {"at": _iso(e.at), "actor": e.actor, "action": e.action, "details": e.details}
            for e in data["events"]
        ],
    }


def row_json(row: Any, now: datetime) -> dict[str, Any]:
    left, level = display.time_left(row.due_at, now)
    return {
        "id": row.id,
        "platform": row.platform,
        "community": row.community,
        "topic": row.topic,
        "status": row.status,
        "due_at": _iso(row.due_at),
        "time_left": left,
        "deadline_level": level,
        "first_line": display.first_line(row.text),
        "author_name": row.author_name,
        "author_id": row.author_id,
        "assignee": row.assignee,
        "claimed_by": row.claimed_by if row.claimed_until and row.claimed_until > now else None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
