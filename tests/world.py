"""The one place tests build their world: accounts, incidents, a logged-in web client, a fake VK.

Incidents are made the way the worker makes them: a citizen's comment goes through
``inbox.ingest``; an answer is the community's own comment coming back through the inbox, or a
reply a person queues in the staff app that the worker then posts. Every call to the inbox's and
the staff app's functions is in the small functions under "the production paths" below, so a
rename there is one edit here.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.routing import APIRoute
from sqlalchemy import Connection, Engine, insert, select
from starlette.routing import Route
from starlette.testclient import TestClient

from incident import db, inbox, sla, stats, users
from incident.inbox import Classification, DeadlinePolicy, ResponseFigures, calendar_hours
from incident.models import (
    DEMO_OPERATOR,
    PLATFORM_ACTOR,
    WORKER,
    Batch,
    ChangeKind,
    CloseReason,
    Comment,
    CommentChange,
    Platform,
    ReplyKind,
)
from incident.sources.fakes.vk_server import EventValidator, FakeVk, Validator
from incident.sources.fakes.vk_world import TokenKind
from incident.stats import Filters
from incident.users import Role
from incident.web import WebSettings, create_app
from incident.web.suggestions import Suggestions
from incident.wiring import answer_figures, working_hours_policy
from tests.vkschema import validate_event, validate_response

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
COMMUNITY = "42"

MSK = ZoneInfo("Europe/Moscow")
# Thursday 1 October 2026, 10:00 Moscow time: an ordinary working day
T0 = datetime(2026, 10, 1, 10, 0, tzinfo=MSK)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=MSK)
OCTOBER = Filters.for_month(2026, 10)

SUPERVISOR = "boris"  # who closes and assigns incidents in a World
CLOSE_REASON = CloseReason.SPAM  # why a World's closed=True incident needed no answer
WORLD_WORKER = "world-worker"  # the worker that posts a World's replies
REPLY_LEASE = timedelta(minutes=5)
REPLY_TEXT = "Здравствуйте! Напишите нам в личные сообщения, разберёмся."


def percentile_cont(values: list[float], p: float) -> float:
    """The reference definition of SQL's ``percentile_cont`` (linear interpolation)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p * 100) - 1]


# ----- the production paths: every inbox and staff call the tests' world makes -------------


def topic_classifier(
    topic: str | None, verdict: Mapping[str, Any] | None = None
) -> Callable[..., Classification]:
    """A classifier that gives every comment ``topic`` (and ``verdict``, if any)."""

    def classify(comment: Comment, *history: Any) -> Classification:
        return Classification(topic, verdict, "test" if verdict else None)

    return classify


def ingest_comment(
    conn: Connection,
    comment: Comment,
    now: datetime,
    *,
    deadline: DeadlinePolicy,
    classify: Callable[..., Classification],
    figures: ResponseFigures = inbox.no_figures,
) -> int | None:
    """Store a new comment as the worker does; the id of the incident it opened, if any."""
    change = CommentChange(
        ChangeKind.NEW,
        comment.platform,
        comment.community,
        comment.external_id,
        comment.post_id,
        comment=comment,
    )
    inbox.ingest(
        conn,
        f"{comment.platform.value}-{comment.community}",
        Batch(changes=(change,)),
        now,
        deadline=deadline,
        classify=classify,
        figures=figures,
    )
    incident_id: int | None = conn.execute(
        select(db.incidents.c.id)
        .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
        .where(
            db.comments.c.platform == comment.platform.value,
            db.comments.c.community == comment.community,
            db.comments.c.external_id == comment.external_id,
        )
    ).scalar()
    return incident_id


def send_reply(conn: Connection, incident_id: int, text: str, user: str, now: datetime) -> int:
    """A person presses "send" in the staff app; the reply waits in the outbox."""
    return inbox.queue_reply(conn, incident_id, text, user, now, kind=ReplyKind.ANSWER)


def queue_automatic_reply(conn: Connection, incident_id: int, text: str, now: datetime) -> int:
    """The worker on its own queues a reply (no person, no staff app)."""
    return inbox.queue_reply(conn, incident_id, text, WORKER, now, kind=ReplyKind.ANSWER.value)


def post_reply(conn: Connection, outbox_id: int, now: datetime, figures: ResponseFigures) -> None:
    """The worker claims the queued reply and the platform accepts it at ``now``."""
    claim = inbox.claim_reply(conn, WORLD_WORKER, now, REPLY_LEASE)
    assert claim is not None
    assert claim.outbox_id == outbox_id, "another reply was due first"
    posted = inbox.mark_posted(conn, claim, WORLD_WORKER, f"posted-{outbox_id}", None, now, figures)
    assert posted


def close_no_answer_needed(
    conn: Connection, incident_id: int, reason: CloseReason, user: str, now: datetime
) -> None:
    """The staff app's "close, no answer needed" with ``reason``."""
    inbox.close_no_answer(conn, incident_id, reason, user, now)


def assign(conn: Connection, incident_id: int, assignee: str, user: str, now: datetime) -> None:
    inbox.assign(conn, incident_id, assignee, user, now)


def change_topic(conn: Connection, incident_id: int, topic: str, user: str, now: datetime) -> None:
    """The staff app's "change the topic" (a correction, recorded as one)."""
    inbox.change_topic(conn, incident_id, topic, user, now)


# ----- accounts and single comments ---------------------------------------------------------


def add_user(engine: Engine, name: str, role: Role, now: datetime) -> users.User:
    with engine.begin() as conn:
        return users.add_user(conn, name, PASSWORD, role, now, display_name=name.title())


def ensure_user(conn: Connection, name: str, now: datetime) -> None:
    """An active staff account ``name``, made if there is none (an assignee must exist)."""
    found = conn.execute(select(db.users.c.id).where(db.users.c.username == name)).first()
    if found is None:
        users.add_user(conn, name, PASSWORD, Role.STAFF, now, display_name=name.title())


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
    with engine.begin() as conn:
        return ingest_comment(
            conn,
            comment,
            now,
            deadline=calendar_hours(hours),
            classify=topic_classifier(topic, verdict),
        )


# ----- a month of incidents, for the statistics -----------------------------------------------


@dataclass
class World:
    """Builds incidents the way the worker and the staff app make them, answer figures included.

    The deadline and the stored answer figures come from ``settings`` as in production
    (``incident.wiring``). ``by="platform"``: the community answers in VK itself; ``by="worker"``:
    an automatic reply the worker queued; any other ``by``: a person's reply from the staff app.
    """

    engine: Engine
    settings: sla.SlaSettings = field(default_factory=sla.SlaSettings)
    n: int = 0

    def incident(
        self,
        opened_at: datetime,
        *,
        answered_after: timedelta | None = None,
        by: str = "anna",
        topic: str | None = "trade",
        community: str = "42",
        platform: str = "vk",
        closed: bool = False,
        assignee: str | None = None,
        text: str = "Магазин не вернул деньги",
        author_name: str | None = None,
    ) -> int:
        self.n += 1
        answered_at = opened_at + answered_after if answered_after is not None else None
        if closed and answered_at is not None and by != PLATFORM_ACTOR:
            raise ValueError("a closed incident can only have been answered in the platform")
        citizen = Comment(
            platform=Platform(platform),
            community=community,
            post_id="1",
            external_id=str(self.n),
            author_id="1001",
            author_name=author_name,
            text=text,
            created_at=opened_at,
        )
        with self.engine.begin() as conn:
            incident_id = ingest_comment(
                conn,
                citizen,
                opened_at,
                deadline=working_hours_policy(self.settings),
                classify=topic_classifier(topic),
                figures=answer_figures(self.settings),
            )
            assert incident_id is not None, "the comment opened no incident"
            if assignee is not None:
                ensure_user(conn, assignee, opened_at)
                assign(conn, incident_id, assignee, SUPERVISOR, opened_at)
            if closed:
                close_no_answer_needed(conn, incident_id, CLOSE_REASON, SUPERVISOR, opened_at)
            if answered_at is not None:
                self._answer(conn, incident_id, citizen, answered_at, by)
        return incident_id

    def answer(self, incident_id: int, at: datetime, *, by: str = "anna") -> None:
        """A first answer to an incident made earlier, at ``at`` (see ``incident``'s ``by``)."""
        c = db.comments.c
        with self.engine.begin() as conn:
            row = conn.execute(
                select(c.platform, c.community, c.post_id, c.external_id, c.author_id, c.text)
                .join(db.incidents, db.incidents.c.comment_id == c.id)
                .where(db.incidents.c.id == incident_id)
            ).one()
            citizen = Comment(
                platform=Platform(row.platform),
                community=row.community,
                post_id=row.post_id,
                external_id=row.external_id,
                author_id=row.author_id,
                text=row.text,
                created_at=at,
            )
            self._answer(conn, incident_id, citizen, at, by)

    def _answer(
        self, conn: Connection, incident_id: int, citizen: Comment, at: datetime, by: str
    ) -> None:
        figures = answer_figures(self.settings)
        if by == PLATFORM_ACTOR:
            answer = replace(
                citizen,
                external_id=f"{citizen.external_id}-answer",
                author_id=f"-{citizen.community}",
                text=REPLY_TEXT,
                created_at=at,
                from_community=True,
                reply_to_id=citizen.external_id,
                thread_root_id=citizen.external_id,
            )
            ingest_comment(
                conn,
                answer,
                at,
                deadline=working_hours_policy(self.settings),
                classify=topic_classifier(None),
                figures=figures,
            )
            return
        if by == WORKER:
            outbox_id = queue_automatic_reply(conn, incident_id, REPLY_TEXT, at)
        else:
            outbox_id = send_reply(conn, incident_id, REPLY_TEXT, by, at)
        post_reply(conn, outbox_id, at, figures)

    def correct_topic(self, incident_id: int, topic: str, *, by: str = "anna") -> None:
        """``by`` changes the incident's topic to ``topic`` in the staff app."""
        with self.engine.begin() as conn:
            change_topic(conn, incident_id, topic, by, T0)

    def reply(self, incident_id: int, kind: str, *, by: str = "anna", posted: bool = True) -> int:
        """A further reply of ``kind`` on an incident, written straight into the outbox.

        Not through the inbox on purpose: the inbox queues one reply per open incident, and
        these tests count replies (moves to private, redirects) next to the first answer.
        Returns the outbox row's id.
        """
        with self.engine.begin() as conn:
            outbox_id: int = conn.execute(
                insert(db.outbox)
                .values(
                    incident_id=incident_id,
                    source="vk-42",
                    text="Напишите нам в личные сообщения",
                    status="posted" if posted else "pending",
                    created_by=by,
                    created_at=T0,
                    attempts=1,
                    next_attempt_at=T0,
                    updated_at=T0,
                    kind=kind,
                )
                .returning(db.outbox.c.id)
            ).scalar_one()
        return outbox_id

    def compute(self, filters: Filters = OCTOBER, now: datetime = NOW) -> stats.Stats:
        with self.engine.begin() as conn:
            return stats.compute(conn, filters, now)


# ----- a small team, for the per-person figures ----------------------------------------------

HOUR = timedelta(hours=1)


class PeopleWorld:
    """Anna answers three incidents (one late), Vera one; the platform, the worker and the
    demo operator one each; Vera moves one to private messages, Anna redirects one and
    corrects a topic; each of them holds open incidents, one of Anna's from September."""

    def __init__(self, world: World) -> None:
        monday = T0 + timedelta(days=4)  # Monday 5 October, 10:00
        self.anna = [(T0, HOUR), (T0 + timedelta(days=1), 3 * HOUR), (monday, 50 * HOUR)]
        self.vera = [(T0 + HOUR, 2 * HOUR)]
        ids = [world.incident(at, answered_after=after, by="anna") for at, after in self.anna]
        vera = world.incident(self.vera[0][0], answered_after=self.vera[0][1], by="vera")
        world.incident(T0 + 2 * HOUR, answered_after=HOUR, by=PLATFORM_ACTOR)
        world.incident(T0 + 2 * HOUR, answered_after=HOUR, by=WORKER)
        world.incident(T0 + 3 * HOUR, answered_after=HOUR / 2, by=DEMO_OPERATOR)
        world.reply(ids[0], "move-to-private", by="vera")
        world.reply(ids[1], "redirect", by="anna")
        world.correct_topic(vera, "housing", by="anna")
        world.incident(T0 + 5 * HOUR, assignee="vera")
        world.incident(T0 + 6 * HOUR, assignee="anna")
        world.incident(T0 - timedelta(days=20), assignee="anna")  # September, still open


# ----- the web app and a logged-in client -------------------------------------------------


def make_app(engine: Engine, clock: Callable[[], datetime], **kw: Any) -> Any:
    kw.setdefault("secure_cookies", False)
    kw.setdefault("suggestions", Suggestions())
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


def routes(app: Any, incident_id: str = "1", name: str = "anna") -> list[tuple[str, str]]:
    """(method, concrete path) for every route the app serves, path parameters filled in:
    ``incident_id`` for an incident's id, ``name`` for every other parameter."""
    found = []
    for route in _flatten(app.routes):
        path = route.path.replace("{incident_id}", incident_id)
        path = re.sub(r"\{[a-z_]+\}", name, path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


def _flatten(items: Any) -> Iterator[Any]:
    """Routes, with included routers opened up (FastAPI keeps them as one entry each)."""
    for route in items:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            assert prefix == "", "routers are included without an extra prefix"
            yield from _flatten(included.routes)
        elif isinstance(route, APIRoute | Route):
            yield route


# ----- the fake VK ------------------------------------------------------------------------


@dataclass(frozen=True)
class VkGroup:
    id: int
    name: str
    screen_name: str | None = None


@dataclass(frozen=True)
class VkToken:
    value: str
    kind: TokenKind
    group_id: int | None = None  # the community of a community token
    user_id: int | None = None  # who a user token comments as


@dataclass(frozen=True)
class VkSetup:
    """What a fake VK knows before a test starts. The schema validators are on by default."""

    groups: Sequence[VkGroup] = (VkGroup(42, "Комитет"),)
    tokens: Sequence[VkToken] = (
        VkToken("community-token", "community", 42),
        VkToken("service-token", "service"),
    )
    users: Mapping[int, tuple[str, str]] = field(
        default_factory=lambda: {1001: ("Анна", "Петрова")}
    )
    longpoll_max_wait: float = 0.5
    validator: Validator | None = validate_response
    event_validator: EventValidator | None = validate_event


DEFAULT_VK = VkSetup()


def build_fake_vk(setup: VkSetup = DEFAULT_VK, **changes: Any) -> FakeVk:
    """A fake VK with ``setup`` (and ``changes`` to it) in place, not started yet."""
    setup = replace(setup, **changes)
    server = FakeVk(
        longpoll_max_wait=setup.longpoll_max_wait,
        validator=setup.validator,
        event_validator=setup.event_validator,
    )
    for group in setup.groups:
        server.add_group(group.id, group.name, group.screen_name)
    for user_id, (first, last) in setup.users.items():
        server.add_user(user_id, first, last)
    for token in setup.tokens:
        server.add_token(token.value, token.kind, token.group_id, user_id=token.user_id)
    return server


@contextmanager
def serve_fake_vk(setup: VkSetup = DEFAULT_VK, **changes: Any) -> Iterator[FakeVk]:
    """A running fake VK (see ``build_fake_vk``), stopped on the way out."""
    with build_fake_vk(setup, **changes) as server:
        yield server
