"""Writes and reads of the survey's tables: campaigns, responses, rating links, tasks.

Time is always passed in. Tokens and slugs come from ``secrets``; a rating link's token is
stored only as its SHA-256, and is used once: a conditional UPDATE claims it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from incident import db
from incident.surveys.answers import Answers
from incident.surveys.definition import Definition, from_json

TITLE_MAX = 200
TASK_MAX = 2000
COMMENT_MAX = 2000


class SurveyError(Exception):
    """A refused survey action, with a message for a person (Russian)."""


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    slug: str
    title: str
    survey_id: str
    created_at: datetime
    closed_at: datetime | None
    responses: int
    definition_json: dict[str, Any]

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @property
    def path(self) -> str:
        return f"/survey/{self.slug}"

    def definition(self) -> Definition:
        return from_json(self.definition_json, f"campaign {self.slug}")


def public_url(path: str, base_url: str | None) -> str:
    """``path`` under ``base_url`` when one is set, else the path itself."""
    return f"{base_url.rstrip('/')}{path}" if base_url else path


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise SurveyError("Укажите название опроса.")
    if len(title) > TITLE_MAX:
        raise SurveyError(f"Название длиннее {TITLE_MAX} знаков.")
    return title


def create_campaign(
    conn: Connection,
    title: str,
    definition: Definition,
    now: datetime,
    created_by: str | None = None,
) -> Campaign:
    """Start a campaign of ``definition`` under a fresh unguessable slug."""
    title = clean_title(title)
    slug = secrets.token_urlsafe(9)  # 12 characters: a link nobody guesses
    conn.execute(
        insert(db.survey_campaigns).values(
            slug=slug,
            title=title,
            survey_id=definition.id,
            definition=definition.to_json(),
            created_at=now,
            created_by=created_by,
        )
    )
    found = campaign_by_slug(conn, slug)
    assert found is not None
    return found


def _campaigns_query() -> Any:
    c = db.survey_campaigns
    counts = (
        select(func.count())
        .where(db.survey_responses.c.campaign_id == c.c.id)
        .scalar_subquery()
        .label("responses")
    )
    return select(c, counts)


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        slug=row.slug,
        title=row.title,
        survey_id=row.survey_id,
        created_at=row.created_at,
        closed_at=row.closed_at,
        responses=row.responses,
        definition_json=dict(row.definition),
    )


def campaigns(conn: Connection) -> list[Campaign]:
    """Every campaign, the newest first."""
    rows = conn.execute(_campaigns_query().order_by(db.survey_campaigns.c.id.desc()))
    return [_campaign(r) for r in rows]


def campaign_by_slug(conn: Connection, slug: str) -> Campaign | None:
    if not slug or len(slug) > 32:
        return None
    row = conn.execute(_campaigns_query().where(db.survey_campaigns.c.slug == slug)).first()
    return _campaign(row) if row else None


def campaign_by_id(conn: Connection, campaign_id: int) -> Campaign | None:
    row = conn.execute(_campaigns_query().where(db.survey_campaigns.c.id == campaign_id)).first()
    return _campaign(row) if row else None


def close_campaign(conn: Connection, slug: str, now: datetime) -> bool:
    """Stop taking responses; False if there is no such open campaign."""
    c = db.survey_campaigns
    done = conn.execute(
        update(c).where(c.c.slug == slug, c.c.closed_at.is_(None)).values(closed_at=now)
    )
    return done.rowcount == 1


def add_response(conn: Connection, campaign: Campaign, answers: Answers, now: datetime) -> int:
    """Store one respondent's answers and the time; nothing else about them."""
    if not campaign.open:
        raise SurveyError("Опрос завершён: ответы больше не принимаются.")
    row = conn.execute(
        insert(db.survey_responses)
        .values(campaign_id=campaign.id, submitted_at=now, answers=answers)
        .returning(db.survey_responses.c.id)
    ).scalar_one()
    return int(row)


# ----- the «оцените ответ» link -------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_rating_link(conn: Connection, incident_id: int, sent_by: str, now: datetime) -> str:
    """A fresh one-use token for the reply ``sent_by`` sends to ``incident_id``."""
    token = secrets.token_urlsafe(12)
    conn.execute(
        insert(db.rating_links).values(
            token_hash=_hash(token), incident_id=incident_id, sent_by=sent_by, created_at=now
        )
    )
    return token


@dataclass(frozen=True, slots=True)
class RatingLink:
    id: int
    incident_id: int
    answered: bool


def rating_link(conn: Connection, token: str) -> RatingLink | None:
    if not token or len(token) > 64:
        return None
    r = db.rating_links
    row = conn.execute(
        select(r.c.id, r.c.incident_id, r.c.answered_at).where(r.c.token_hash == _hash(token))
    ).first()
    return RatingLink(row.id, row.incident_id, row.answered_at is not None) if row else None


def rate(conn: Connection, token: str, score: int, comment: str, now: datetime) -> bool:
    """Record the rating once; False when the link is unknown or was used already."""
    if score not in range(1, 6):
        raise SurveyError("Выберите оценку от 1 до 5.")
    comment = comment.strip().replace("\r\n", "\n")
    if len(comment) > COMMENT_MAX:
        raise SurveyError(f"Комментарий длиннее {COMMENT_MAX} знаков: сократите его.")
    r = db.rating_links
    done = conn.execute(
        update(r)
        .where(r.c.token_hash == _hash(token), r.c.answered_at.is_(None))
        .values(answered_at=now, score=score, comment=comment or None)
    )
    return done.rowcount == 1


# ----- follow-up tasks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    response_id: int
    campaign_id: int
    campaign_title: str
    question: str
    answer: str
    what: str
    assignee: str
    due_on: date
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None

    def overdue(self, today: date) -> bool:
        return self.closed_at is None and self.due_on < today


def add_task(
    conn: Connection,
    response_id: int,
    question: str,
    what: str,
    assignee: str,
    due_on: date,
    created_by: str,
    now: datetime,
) -> int:
    """Turn an open answer into a task for ``assignee`` (an active account) due ``due_on``."""
    what = what.strip()
    if not what:
        raise SurveyError("Опишите, что нужно сделать.")
    if len(what) > TASK_MAX:
        raise SurveyError(f"Описание задачи длиннее {TASK_MAX} знаков.")
    response = conn.execute(
        select(db.survey_responses.c.answers).where(db.survey_responses.c.id == response_id)
    ).first()
    if response is None or not isinstance(response.answers.get(question), str):
        raise SurveyError("Такого открытого ответа нет.")
    u = db.users
    person = conn.execute(
        select(u.c.username).where(u.c.username == assignee, u.c.disabled.is_(False))
    ).first()
    if person is None:
        raise SurveyError("Выберите исполнителя из списка сотрудников.")
    row = conn.execute(
        insert(db.survey_tasks)
        .values(
            response_id=response_id,
            question=question,
            what=what,
            assignee=assignee,
            due_on=due_on,
            created_by=created_by,
            created_at=now,
        )
        .returning(db.survey_tasks.c.id)
    ).scalar_one()
    return int(row)


def close_task(conn: Connection, task_id: int, user: str, now: datetime) -> bool:
    t = db.survey_tasks
    done = conn.execute(
        update(t)
        .where(t.c.id == task_id, t.c.closed_at.is_(None))
        .values(closed_at=now, closed_by=user)
    )
    return done.rowcount == 1


def tasks(conn: Connection, *, open_only: bool = False) -> list[Task]:
    """Tasks, open ones first by due date, then the closed ones."""
    t, r, c = db.survey_tasks, db.survey_responses, db.survey_campaigns
    query = (
        select(t, r.c.answers, r.c.campaign_id, c.c.title.label("campaign_title"))
        .join(r, r.c.id == t.c.response_id)
        .join(c, c.c.id == r.c.campaign_id)
        .order_by(t.c.closed_at.is_not(None), t.c.due_on, t.c.id)
    )
    if open_only:
        query = query.where(t.c.closed_at.is_(None))
    return [
        Task(
            id=row.id,
            response_id=row.response_id,
            campaign_id=row.campaign_id,
            campaign_title=row.campaign_title,
            question=row.question,
            answer=str(row.answers.get(row.question, "")),
            what=row.what,
            assignee=row.assignee,
            due_on=row.due_on,
            created_by=row.created_by,
            created_at=row.created_at,
            closed_at=row.closed_at,
            closed_by=row.closed_by,
        )
        for row in conn.execute(query)
    ]
