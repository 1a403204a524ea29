"""The survey's read model: distributions, indices, open answers, the yearly dynamics and the
reply ratings by topic, person and platform.

A campaign's responses are few (hundreds, a few thousand): they are read once and counted here.
Shares are of the respondents who answered that question (for a grid: that row).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, select

from incident import db
from incident.surveys.definition import Definition, Index, Question

SEARCH_MAX = 200


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    campaign_id: int
    submitted_at: datetime
    answers: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OptionCount:
    number: int
    text: str
    count: int
    share: float | None  # of those who answered; None when nobody did


@dataclass(frozen=True, slots=True)
class RowCounts:
    id: str
    text: str
    answered: int
    options: tuple[OptionCount, ...]
    mean: float | None  # of the scored options chosen


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question: Question
    answered: int
    options: tuple[OptionCount, ...] = ()
    rows: tuple[RowCounts, ...] = ()
    mean: float | None = None
    open_answers: tuple[tuple[int, datetime, str], ...] = ()  # (response id, when, text)


@dataclass(frozen=True, slots=True)
class IndexValue:
    index: Index
    value: float | None
    answered: int

    @property
    def is_share(self) -> bool:
        return not self.index.mean


def responses(conn: Connection, campaign_ids: Iterable[int] | None = None) -> list[Response]:
    r = db.survey_responses
    query = select(r).order_by(r.c.submitted_at, r.c.id)
    if campaign_ids is not None:
        query = query.where(r.c.campaign_id.in_(list(campaign_ids)))
    return [
        Response(x.id, x.campaign_id, x.submitted_at, dict(x.answers)) for x in conn.execute(query)
    ]


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _counts(q: Question, chosen: Sequence[int], answered: int) -> tuple[OptionCount, ...]:
    counter = Counter(chosen)
    return tuple(
        OptionCount(o.number, o.text, counter[o.number], _share(counter[o.number], answered))
        for o in q.options
    )


def _mean(q: Question, chosen: Sequence[int]) -> float | None:
    scores = [o.score for n in chosen if (o := q.option(n)) is not None and o.score is not None]
    return sum(scores) / len(scores) if scores else None


def _valid(q: Question, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and q.option(value) is not None


def _numbers(q: Question, values: Iterable[Any]) -> list[int]:
    """The values that are option numbers of ``q`` (anything else a campaign holds is skipped)."""
    return [int(v) for v in values if _valid(q, v)]


def matches(text: str, search: str) -> bool:
    return not search or search.casefold() in text.casefold()


def question_result(q: Question, found: Sequence[Response], search: str = "") -> QuestionResult:
    values = [(r, r.answers.get(q.id)) for r in found if r.answers.get(q.id) is not None]
    if q.kind == "open":
        texts = tuple(
            (r.id, r.submitted_at, v)
            for r, v in values
            if isinstance(v, str) and matches(v, search[:SEARCH_MAX])
        )
        return QuestionResult(q, len(values), open_answers=texts)
    if q.kind == "one":
        chosen = _numbers(q, (v for _, v in values))
        return QuestionResult(
            q, len(chosen), _counts(q, chosen, len(chosen)), mean=_mean(q, chosen)
        )
    if q.kind == "many":
        lists = [v for _, v in values if isinstance(v, list)]
        chosen = _numbers(q, (n for v in lists for n in v))
        return QuestionResult(q, len(lists), _counts(q, chosen, len(lists)))
    rows = []
    for row in q.rows:
        chosen = _numbers(q, (v.get(row.id) for _, v in values if isinstance(v, dict)))
        rows.append(
            RowCounts(
                row.id, row.text, len(chosen), _counts(q, chosen, len(chosen)), _mean(q, chosen)
            )
        )
    answered = sum(1 for _, v in values if isinstance(v, dict) and v)
    return QuestionResult(q, answered, rows=tuple(rows))


def index_value(definition: Definition, index: Index, found: Sequence[Response]) -> IndexValue:
    q = definition.question(index.question)
    if q is None:
        return IndexValue(index, None, 0)
    chosen = _numbers(q, (r.answers.get(q.id) for r in found))
    if index.mean:
        return IndexValue(index, _mean(q, chosen), len(chosen))
    hits = sum(1 for n in chosen if n in index.share_of)
    return IndexValue(index, _share(hits, len(chosen)), len(chosen))


@dataclass(frozen=True, slots=True)
class Results:
    definition: Definition
    total: int
    questions: tuple[QuestionResult, ...]
    indices: tuple[IndexValue, ...]


def results(definition: Definition, found: Sequence[Response], search: str = "") -> Results:
    return Results(
        definition,
        len(found),
        tuple(question_result(q, found, search) for q in definition.questions),
        tuple(index_value(definition, i, found) for i in definition.indices),
    )


# ----- the yearly dynamics ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YearFigure:
    year: int
    value: float | None
    answered: int
    change: float | None  # against the year before it that has a value


@dataclass(frozen=True, slots=True)
class Dynamics:
    years: tuple[int, ...]
    responses: Mapping[int, int]
    indices: tuple[tuple[Index, tuple[YearFigure, ...]], ...]
    # every option of every one-answer question: (question, option text, figures by year)
    options: tuple[tuple[Question, str, tuple[YearFigure, ...]], ...]


def _figures(values: Sequence[tuple[int, float | None, int]]) -> tuple[YearFigure, ...]:
    figures = []
    before: float | None = None
    for year, value, answered in values:
        change = value - before if value is not None and before is not None else None
        figures.append(YearFigure(year, value, answered, change))
        if value is not None:
            before = value
    return tuple(figures)


def dynamics(definition: Definition, found: Sequence[Response], zone: tzinfo) -> Dynamics:
    """This year beside the earlier ones: each index and each one-answer option share by year
    (the year of the local day a response was sent)."""
    by_year: dict[int, list[Response]] = {}
    for r in found:
        by_year.setdefault(r.submitted_at.astimezone(zone).year, []).append(r)
    years = tuple(sorted(by_year))
    indices = tuple(
        (
            index,
            _figures(
                [
                    (y, (v := index_value(definition, index, by_year[y])).value, v.answered)
                    for y in years
                ]
            ),
        )
        for index in definition.indices
    )
    options = []
    for q in definition.questions:
        if q.kind != "one":
            continue
        per_year = {y: question_result(q, by_year[y]) for y in years}
        for o in q.options:
            options.append(
                (
                    q,
                    o.text,
                    _figures(
                        [
                            (y, per_year[y].options[o.number - 1].share, per_year[y].answered)
                            for y in years
                        ]
                    ),
                )
            )
    return Dynamics(years, {y: len(by_year[y]) for y in years}, indices, tuple(options))


# ----- the reply ratings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RatingRow:
    key: str | None
    sent: int
    rated: int
    mean: float | None


@dataclass(frozen=True, slots=True)
class Ratings:
    total: RatingRow
    by_topic: tuple[RatingRow, ...]
    by_person: tuple[RatingRow, ...]
    by_platform: tuple[RatingRow, ...]
    comments: tuple[tuple[int, int, str], ...]  # (incident id, score, comment), newest first


def ratings(
    conn: Connection, since: datetime | None = None, until: datetime | None = None
) -> Ratings:
    """Links sent and ratings given (links created in ``[since, until)``), grouped."""
    r, i = db.rating_links, db.incidents
    cond = []
    if since is not None:
        cond.append(r.c.created_at >= since)
    if until is not None:
        cond.append(r.c.created_at < until)

    def grouped(column: Any) -> list[RatingRow]:
        query = (
            select(
                column.label("key"),
                func.count().label("sent"),
                func.count(r.c.score).label("rated"),
                func.avg(r.c.score).label("mean"),
            )
            .select_from(r.join(i, i.c.id == r.c.incident_id))
            .where(*cond)
            .group_by(column)
            .order_by(func.count().desc())
        )
        return [
            RatingRow(
                row.key, row.sent, row.rated, float(row.mean) if row.mean is not None else None
            )
            for row in conn.execute(query)
        ]

    total = conn.execute(
        select(func.count(), func.count(r.c.score), func.avg(r.c.score)).where(*cond)
    ).one()
    comments = conn.execute(
        select(r.c.incident_id, r.c.score, r.c.comment)
        .where(r.c.comment.is_not(None), *cond)
        .order_by(r.c.answered_at.desc())
        .limit(200)
    )
    return Ratings(
        total=RatingRow(
            None, total[0], total[1], float(total[2]) if total[2] is not None else None
        ),
        by_topic=tuple(grouped(i.c.topic)),
        by_person=tuple(grouped(r.c.sent_by)),
        by_platform=tuple(grouped(i.c.platform)),
        comments=tuple((c.incident_id, c.score, c.comment) for c in comments),
    )
