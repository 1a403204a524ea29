"""World-building helpers shared by the web tests: accounts, incidents, a logged-in client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from incident import db, inbox, users
from incident.inbox import Classification, calendar_hours
from incident.models import Batch, ChangeKind, Comment, CommentChange, Platform
from incident.users import Role
from incident.web import WebSettings, create_app
from incident.web.suggestions import Suggestions

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
COMMUNITY = "42"


def add_user(engine: Engine, name: str, role: Role, now: datetime) -> users.User:
    with engine.begin() as conn:
        return users.add_user(conn, name, PASSWORD, role, now, display_name=name.title())


def add_incident(
    engine: Engine,
    now: datetime,
    text: str,
    *,
    external_id: str,
    post_id: str = "7",
    author_id: str = "1001",
    author_name: str | None = "Анна Петрова",
    age: timedelta = timedelta(hours=1),
    hours: float = 8,
    platform: Platform = Platform.VK,
    community: str = COMMUNITY,
    topic: str | None = None,
    verdict: dict[str, Any] | None = None,
    reply_to: str | None = None,
    root: str | None = None,
    from_community: bool = False,
) -> int | None:
    """Stores a comment the way the worker does (inbox.ingest); returns its incident id."""
    comment = Comment(
        platform=platform,
        community=community,
        post_id=post_id,
        external_id=external_id,
        author_id=author_id,
        author_name=author_name,
        text=text,
        created_at=now - age,
        reply_to_id=reply_to,
        thread_root_id=root,
        from_community=from_community,
    )
    change = CommentChange(
        ChangeKind.NEW, platform, community, external_id, post_id, comment=comment
    )

    def classify(c: Comment, *history: Any) -> Classification:
        return Classification(topic, verdict, "test" if verdict else None)

    with engine.begin() as conn:
        inbox.ingest(
            conn,
            f"{platform.value}-{community}",
            Batch(changes=(change,)),
            now,
            deadline=calendar_hours(hours),
            classify=classify,
        )
        return conn.execute(
            select(db.incidents.c.id)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
            .where(db.comments.c.external_id == external_id)
        ).scalar()


def make_app(engine: Engine, clock: Callable[[], datetime], **kw: Any) -> Any:
    kw.setdefault("secure_cookies", False)
    kw.setdefault("knowledge", Suggestions())
    settings = WebSettings(secret=SECRET, clock=clock, **kw)
    return create_app(engine, settings)


CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client)
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/queue"},
        follow_redirects=False,
    )


def post_form(client: TestClient, path: str, data: dict[str, str], page: str = "/queue") -> Any:
    token = csrf_of(client, page)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
