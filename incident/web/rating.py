"""The «оцените ответ» link a reply may carry: added when the reply is queued, if the
deployment switched it on (``[survey] rating_links``), knows its public address, and the
reply started from a template with ``rating_link = true``."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from sqlalchemy import Connection

from incident import surveys
from incident.web import deps

LINK_TEXT = "Оцените, пожалуйста, наш ответ: {url}"


def with_rating_link(
    request: Request,
    conn: Connection,
    incident_id: int,
    text: str,
    reply_id: str | None,
    user: str,
    now: datetime,
) -> str:
    """``text`` with the link to a fresh one-use rating token of ``incident_id`` appended, or
    ``text`` unchanged. Written in ``conn``'s transaction: a refused reply leaves no token."""
    settings = request.app.state.settings
    if not (settings.rating_links and settings.public_url):
        return text
    if not deps.suggestions(request).rating_link(reply_id):
        return text
    token = surveys.create_rating_link(conn, incident_id, user, now)
    url = surveys.public_url(f"/rate/{token}", settings.public_url)
    return f"{text.rstrip()}\n\n{LINK_TEXT.format(url=url)}"
