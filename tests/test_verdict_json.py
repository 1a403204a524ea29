"""A verdict survives being stored with its incident: Verdict -> JSON -> Verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from incident import db
from incident.classify import Match, Verdict, classify
from incident.models import UNCLASSIFIED
from incident.replies import Catalog, ReplyContext, load_replies, suggest
from incident.rules import RuleSet, load_ruleset
from tests.conftest import FakeClock
from tests.world import add_incident

ROOT = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=150, deadline=None)

# comments of every kind the shipped rules tell apart: topics, a redirect, urgency, thanks, spam
TEXTS = [
    "Как вернуть деньги за бракованный товар в магазине?",
    "МТС списал деньги за подписку",
    "В подъезде сильный запах газа, УК не отвечает",
    "Огромные ямы на дороге по улице Мира",
    "Спасибо вам огромное за помощь!",
    "Заработок без вложений https://x.example/y #деньги",
    "Ну и что теперь?",
    "Купила чайник, через неделю сломался, магазин отказывается менять",
]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="module")
def catalog(rules: RuleSet) -> Catalog:
    return load_replies(ROOT / "replies", rules)


def stored(verdict: Verdict) -> Any:
    """The verdict as the database gives it back: JSON text, parsed."""
    return json.loads(json.dumps(verdict.to_json()))


# Floats as stored: rounded to three decimals.
figures = st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda x: round(x, 3))
names = st.text(max_size=12)
matches = st.builds(
    Match,
    phrase=names,
    start=st.integers(0, 10_000),
    end=st.integers(0, 10_000),
    weight=figures,
    topic=names,
    kind=st.sampled_from(["positive", "negative", "urgent", "flag", "spam", "abusive"]),
    fuzzy=st.booleans(),
    redirect=st.none() | st.text(min_size=1, max_size=12),
)


@st.composite
def verdicts(draw: st.DrawFn) -> Verdict:
    scores = draw(st.dictionaries(names, figures, max_size=6))
    return Verdict(
        topic=draw(names),
        score=draw(figures),
        confidence=draw(figures),
        matches=tuple(draw(st.lists(matches, max_size=5))),
        runner_up=draw(st.none() | names),
        runner_up_score=draw(figures),
        flags=frozenset(draw(st.sets(names, max_size=4))),
        reasons=tuple(draw(st.lists(names, max_size=3))),
        scores=tuple(sorted(scores.items(), key=lambda ts: -ts[1])),
        redirect=draw(st.none() | names),
        in_competence=draw(st.booleans()),
        ruleset_version=draw(names),
    )


@FAST
@given(verdicts())
def test_a_stored_verdict_reads_back_equal(verdict: Verdict) -> None:
    assert Verdict.from_json(stored(verdict)) == verdict


@pytest.mark.parametrize("text", TEXTS)
def test_a_real_verdict_reads_back_with_its_evidence_and_its_drafts(
    text: str, rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify(text, rules)
    back = Verdict.from_json(stored(verdict))
    assert back.to_json() == verdict.to_json()
    assert (back.topic, back.flags, back.redirect, back.in_competence) == (
        verdict.topic,
        verdict.flags,
        verdict.redirect,
        verdict.in_competence,
    )
    assert [(m.phrase, m.start, m.end, m.topic) for m in back.matches] == [
        (m.phrase, m.start, m.end, m.topic) for m in verdict.matches
    ]
    context = ReplyContext(platform="vk", author_first_name="Анна")
    assert suggest(back, catalog, context) == suggest(verdict, catalog, context)


def test_a_verdict_read_back_from_the_database_is_the_verdict_stored(
    engine: Engine, clock: FakeClock, rules: RuleSet
) -> None:
    # PostgreSQL keeps JSON objects (the scores) in its own key order: best first again
    verdict = classify("МТС банк списал деньги, а интернет не работает", rules)
    assert len(verdict.scores) > 1
    found = add_incident(
        engine,
        clock(),
        "МТС банк списал деньги, а интернет не работает",
        external_id="1",
        topic=verdict.topic,
        verdict=verdict.to_json(),
    )
    with engine.connect() as conn:
        row = conn.execute(select(db.incidents.c.verdict).where(db.incidents.c.id == found)).one()
    back = Verdict.from_json(row.verdict)
    assert back.to_json() == verdict.to_json()
    assert [t for t, _ in back.scores] == [t for t, _ in verdict.scores]


def test_the_unclassified_verdict_has_no_topic_flags_or_evidence() -> None:
    verdict = Verdict.unclassified()
    assert verdict.topic == UNCLASSIFIED
    assert (verdict.flags, verdict.matches, verdict.redirect) == (frozenset(), (), None)
    assert Verdict.from_json(stored(verdict)) == verdict


@pytest.mark.parametrize(
    "data", [{}, {"topic": "trade"}, {**Verdict.unclassified().to_json(), "scores": [1, 2]}]
)
def test_what_is_not_a_stored_verdict_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a stored verdict"):
        Verdict.from_json(data)
