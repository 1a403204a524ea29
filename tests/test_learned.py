"""The learned model (incident.learned, trained by incident.training.fit): scored from plain data
exactly as trained, explained by the words that pushed it, and combined with the rules so that
the rules decide when they are sure."""

from __future__ import annotations

import json
import math

import pytest

from incident.classify import Verdict, classify
from incident.learned import LearnedModel, ModelError, combine, features
from incident.models import UNCLASSIFIED
from incident.rules import RuleSet
from incident.training import correction_samples, fit, rule_samples
from tests.learnedworld import SOFA, SOFA_NEW, small_rules


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return small_rules(tmp_path_factory.mktemp("rules"))


@pytest.fixture(scope="module")
def taught(rules: RuleSet) -> LearnedModel:
    """A model that saw, besides the rules, staff correct four sofa repairs to services."""
    corrected = [(s, "services") for s in SOFA]
    return fit(rule_samples(rules) + correction_samples(corrected), rules, corrections=len(SOFA))


def judged(text: str, rules: RuleSet, model: LearnedModel | None) -> Verdict:
    return combine(classify(text, rules), model, rules.normalizer.analyze(text), rules)


def test_scoring_the_exported_data_gives_the_probabilities_of_the_feature_vector(
    rules: RuleSet, taught: LearnedModel
) -> None:
    """The per-word cached sums equal the dot product of the training features."""
    for text in [SOFA_NEW, "Нет горячей воды второй день, УК молчит", "ЯМА ЯМА на дороге!!!"]:
        vector = features(text, rules.normalizer)
        logits = [
            b
            + sum(
                v * taught.weights.get(k, (0.0,) * len(taught.topics))[j] for k, v in vector.items()
            )
            for j, b in enumerate(taught.intercepts)
        ]
        top = max(logits)
        total = sum(math.exp(x - top) for x in logits)
        expected = {
            t: math.exp(x - top) / total for t, x in zip(taught.topics, logits, strict=True)
        }
        got = taught.score(rules.normalizer.analyze(text), rules.normalizer)
        assert dict(got.probabilities) == pytest.approx(expected, abs=1e-9)
        assert got.probability == pytest.approx(max(expected.values()), abs=1e-9)
        assert expected[got.topic] == max(expected.values())


def test_the_model_survives_its_plain_data_round_trip(rules: RuleSet, taught: LearnedModel) -> None:
    data = json.loads(json.dumps(taught.to_data()))
    again = LearnedModel.from_data(data)
    assert again.ruleset_version == rules.version
    a = taught.score(rules.normalizer.analyze(SOFA_NEW), rules.normalizer)
    b = again.score(rules.normalizer.analyze(SOFA_NEW), rules.normalizer)
    assert a.topic == b.topic
    assert b.probabilities == pytest.approx(a.probabilities, abs=1e-3)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"format": 99}, "format"),
        ({"intercepts": [0.0]}, "number"),
        ({"weights": {"s:диван": [1.0]}}, "match"),
        ({"weights": {"s:диван": [math.nan, 0, 0, 0]}}, "finite"),
        ({"topics": None}, "not a stored model"),
    ],
)
def test_stored_data_that_is_not_a_model_is_refused(
    taught: LearnedModel, change: dict[str, object], problem: str
) -> None:
    data = {**taught.to_data(), **change}
    with pytest.raises(ModelError, match=problem):
        LearnedModel.from_data(data)


def test_corrections_teach_the_topic_of_a_comment_the_rules_leave_unclassified(
    rules: RuleSet, taught: LearnedModel
) -> None:
    assert classify(SOFA_NEW, rules).topic == UNCLASSIFIED
    verdict = judged(SOFA_NEW, rules, taught)
    assert verdict.topic == "services"
    assert verdict.in_competence
    note = verdict.model
    assert note is not None
    assert note["changed"] == "filled"
    assert note["rules_topic"] == UNCLASSIFIED
    pushed = {w["word"] for w in note["words"]}
    assert pushed & {"пружина", "обшивка", "дивана"}
    for w in note["words"]:  # each word's span points at it in the text
        start, end = w["span"]
        assert SOFA_NEW[start:end] == w["word"]
        assert w["weight"] > 0


def test_without_corrections_the_model_does_not_know_the_sofa(rules: RuleSet) -> None:
    untaught = fit(rule_samples(rules), rules)
    verdict = judged(SOFA_NEW, rules, untaught)
    assert verdict.model is not None
    assert verdict.model["topic"] != "services" or verdict.model["probability"] < 0.5


def test_the_rules_decide_when_they_are_sure(rules: RuleSet, taught: LearnedModel) -> None:
    text = "Управляющая компания третий месяц не чинит крышу в подъезде"
    verdict = judged(text, rules, taught)
    assert verdict.topic == classify(text, rules).topic == "housing"
    assert verdict.model is not None
    assert verdict.model["changed"] is None
    assert verdict.model["version"] == taught.version


def test_a_model_without_corrections_is_asked_only_what_the_rules_left_unclassified(
    rules: RuleSet,
) -> None:
    """It could only fill: a verdict the rules reached is theirs alone, with no note."""
    untaught = fit(rule_samples(rules), rules)
    text = "Управляющая компания третий месяц не чинит крышу в подъезде"
    assert judged(text, rules, untaught) == classify(text, rules)
    assert judged(SOFA_NEW, rules, untaught).model is not None


def test_spam_found_by_links_is_never_overruled(rules: RuleSet, taught: LearnedModel) -> None:
    text = "пружина диван http://a.example http://b.example http://c.example"
    ruled = classify(text, rules)
    assert ruled.topic == "spam"
    assert judged(text, rules, taught).topic == "spam"


def test_the_verdict_keeps_the_models_note_through_json(
    rules: RuleSet, taught: LearnedModel
) -> None:
    verdict = judged(SOFA_NEW, rules, taught)
    again = Verdict.from_json(json.loads(json.dumps(verdict.to_json())))
    assert again.model == verdict.model
    assert again.topic == "services"


def test_without_a_model_the_verdict_is_the_rules_own(rules: RuleSet) -> None:
    verdict = judged(SOFA_NEW, rules, None)
    assert verdict == classify(SOFA_NEW, rules)
    assert "model" not in verdict.to_json()
