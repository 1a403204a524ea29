"""Speed work never changes a verdict: with a model trained on the shipped rules and the bench's
corrections pool, every comment of bench/data/*.jsonl gets byte for byte the verdict JSON (and
the explanation) that the plain scoring below gives. ``reference_score`` and
``reference_combine`` are the model's scoring and combining as they were before they were made
fast (issue 12, part 7), kept here verbatim as the yardstick."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from incident.classify import Verdict, classify
from incident.commands.classify import explain
from incident.learned import (
    CombinePolicy,
    LearnedModel,
    ModelScore,
    classify_json,
    classify_with_model,
    combine,
    word_features,
)
from incident.models import UNCLASSIFIED
from incident.rules import RuleSet, load_ruleset
from incident.text import Analysis, Normalizer
from incident.training import correction_samples, fit, rule_samples

ROOT = Path(__file__).resolve().parent.parent
PLAIN = CombinePolicy()
DATA = sorted((ROOT / "bench" / "data").glob("*.jsonl"))


def _texts(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [str(json.loads(line)["text"]) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="module")
def model(ruleset: RuleSet) -> LearnedModel:
    """The model the bench measures: the rules and every correction of the pool."""
    pool = [
        (str(row["text"]), str(row["topic"]))
        for line in (ROOT / "bench" / "data" / "corrections.jsonl").read_text("utf-8").splitlines()
        if line.strip() and (row := json.loads(line))
    ]
    return fit(rule_samples(ruleset) + correction_samples(pool), ruleset, corrections=len(pool))


def _reference_word(
    model: LearnedModel, raw: str, normalizer: Normalizer
) -> tuple[float, ...] | None:
    form, stem = normalizer.word(raw)
    get = model.weights.get
    found = [
        w if count == 1.0 else tuple([x * count for x in w])
        for key, count in word_features(form, stem).items()
        if (w := get(key)) is not None
    ]
    return tuple(map(sum, zip(*found, strict=True))) if found else None


def reference_score(model: LearnedModel, analysis: Analysis, normalizer: Normalizer) -> ModelScore:
    raw = analysis.raw
    distinct = tuple(dict.fromkeys(raw))
    vectors = [_reference_word(model, w, normalizer) for w in distinct]
    known = [v for v in vectors if v is not None]
    if known:
        scale = 1.0 / math.sqrt(len(distinct))
        logits = [
            b + s * scale
            for b, s in zip(model.intercepts, map(sum, zip(*known, strict=True)), strict=True)
        ]
    else:
        scale = 0.0
        logits = list(model.intercepts)
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    best = exps.index(max(exps))
    probabilities = dict(zip(model.topics, [e / total for e in exps], strict=True))
    pushes = sorted(
        [
            (v[best], w)
            for w, v in zip(distinct, vectors, strict=True)
            if v is not None and v[best] > 0 and len(w) > 2
        ],
        reverse=True,
    )[:3]
    span = analysis.span
    found = tuple((w, *span(raw.index(w)), round(push * scale, 3)) for push, w in pushes)
    return ModelScore(model.topics[best], exps[best] / total, probabilities, found)


def reference_combine(
    verdict: Verdict,
    model: LearnedModel,
    analysis: Analysis,
    ruleset: RuleSet,
    policy: CombinePolicy = PLAIN,
) -> Verdict:
    result = reference_score(model, analysis, ruleset.normalizer)
    topic = verdict.topic
    chosen = topic
    how = ""
    if verdict.reasons and topic == "spam":
        chosen = topic
    elif topic == UNCLASSIFIED:
        if result.probability >= policy.fill and result.topic != UNCLASSIFIED:
            chosen, how = result.topic, "filled"
    elif model.corrections > 0 and result.topic != topic and result.probability >= policy.override:
        chosen, how = result.topic, "override"
    elif (
        verdict.runner_up is not None
        and verdict.confidence < policy.tie
        and result.of(verdict.runner_up) > result.of(topic)
    ):
        chosen, how = verdict.runner_up, "tie"
    note: dict[str, Any] = {
        "version": model.version,
        "topic": result.topic,
        "probability": round(result.probability, 3),
        "words": [{"word": w, "span": [s, e], "weight": push} for w, s, e, push in result.words],
        "changed": how or None,
        "rules_topic": topic,
    }
    if chosen == topic:
        return replace(verdict, model=note)
    scores = dict(verdict.scores)
    rules = ruleset.topics.get(chosen)
    return replace(
        verdict,
        topic=chosen,
        runner_up=topic if topic != UNCLASSIFIED else verdict.runner_up,
        runner_up_score=verdict.score if topic != UNCLASSIFIED else verdict.runner_up_score,
        score=scores.get(chosen, 0.0),
        confidence=round(result.of(chosen), 3),
        redirect=rules.redirects[0].id if rules is not None and rules.redirects else None,
        in_competence=bool(rules is not None and rules.in_competence),
        model=note,
    )


def reference_to_json(verdict: Verdict) -> dict[str, Any]:
    """``Verdict.to_json`` and ``Match.to_json`` as they were."""
    return {
        "topic": verdict.topic,
        "score": round(verdict.score, 3),
        "confidence": round(verdict.confidence, 3),
        "runner_up": verdict.runner_up,
        "runner_up_score": round(verdict.runner_up_score, 3),
        "flags": sorted(verdict.flags),
        "in_competence": verdict.in_competence,
        "redirect": verdict.redirect,
        "reasons": list(verdict.reasons),
        "scores": {t: round(s, 3) for t, s in verdict.scores},
        "matches": [
            {
                "phrase": m.phrase,
                "span": [m.start, m.end],
                "weight": round(m.weight, 3),
                "topic": m.topic,
                "kind": m.kind,
                "fuzzy": m.fuzzy,
                **({"redirect": m.redirect} if m.redirect else {}),
            }
            for m in verdict.matches
        ],
        "ruleset_version": verdict.ruleset_version,
        **({"model": verdict.model} if verdict.model is not None else {}),
    }


@pytest.mark.parametrize("path", DATA, ids=[p.name for p in DATA])
def test_every_bench_comment_gets_the_verdict_of_the_plain_scoring(
    path: Path, ruleset: RuleSet, model: LearnedModel
) -> None:
    texts = _texts(path)
    assert texts
    changed = 0
    for text in texts:
        analysis = ruleset.normalizer.analyze(text)
        expected = reference_combine(classify(text, ruleset), model, analysis, ruleset)
        got = combine(classify(text, ruleset), model, ruleset.normalizer.analyze(text), ruleset)
        assert got == expected, text  # every field, not only those the JSON shows
        # the CLI's path: one verdict built, the comment analysed once
        assert classify_with_model(text, ruleset, model) == expected, text
        assert classify_with_model(text, ruleset, None) == classify(text, ruleset), text
        assert orjson.dumps(got.to_json()) == orjson.dumps(reference_to_json(expected)), text
        assert json.dumps(got.to_json()) == json.dumps(reference_to_json(expected)), text
        # what classify --jsonl writes, built without a verdict
        wrote = classify_json(text, ruleset, model)
        assert orjson.dumps(wrote) == orjson.dumps(reference_to_json(expected)), text
        assert json.dumps(wrote) == json.dumps(reference_to_json(expected)), text
        rules_only = classify(text, ruleset)
        assert orjson.dumps(rules_only.to_json()) == orjson.dumps(reference_to_json(rules_only))
        assert orjson.dumps(classify_json(text, ruleset, None)) == orjson.dumps(
            reference_to_json(rules_only)
        )
        assert explain(got, ruleset, text) == explain(expected, ruleset, text)
        changed += expected.model is not None and expected.model["changed"] is not None
    assert changed  # the model did take part in some verdicts


def test_a_second_pass_over_warm_caches_gives_the_same_verdicts(
    ruleset: RuleSet, model: LearnedModel
) -> None:
    texts = _texts(DATA[0])
    first = [
        combine(classify(t, ruleset), model, ruleset.normalizer.analyze(t), ruleset) for t in texts
    ]
    again = [
        combine(classify(t, ruleset), model, ruleset.normalizer.analyze(t), ruleset) for t in texts
    ]
    assert [v.to_json() for v in first] == [v.to_json() for v in again]


def test_close_calls_broken_by_the_model_give_the_plain_verdicts(
    ruleset: RuleSet, model: LearnedModel
) -> None:
    """The tie rule (off by default) reads the runner-up's probability: the same there too."""
    policy = CombinePolicy(tie=1.0)
    ties = 0
    for text in [t for path in DATA for t in _texts(path)]:
        analysis = ruleset.normalizer.analyze(text)
        expected = reference_combine(classify(text, ruleset), model, analysis, ruleset, policy)
        got = combine(classify(text, ruleset), model, analysis, ruleset, policy)
        assert got == expected, text
        assert classify_with_model(text, ruleset, model, policy=policy) == expected, text
        ties += expected.model is not None and expected.model["changed"] == "tie"
    assert ties


def test_a_word_with_a_repeated_letter_group_counts_it_as_scoring_did(
    ruleset: RuleSet, model: LearnedModel
) -> None:
    """«ааааа», «папа»: a gram twice in one word weighs twice, as ``word_features`` says."""
    for text in ["ааааааа папа мама", "колокол кокос", "ааа"]:
        analysis = ruleset.normalizer.analyze(text)
        expected = reference_score(model, analysis, ruleset.normalizer)
        assert model.score(analysis, ruleset.normalizer) == expected


def test_the_cli_path_reads_the_authors_history_as_classify_does(
    ruleset: RuleSet, model: LearnedModel
) -> None:
    """A repeat of the author's earlier comment is flood spam on both paths, with the model."""
    texts = _texts(DATA[0])[:40]
    for text in texts:
        history = (text, texts[0])
        analysis = ruleset.normalizer.analyze(text)
        expected = reference_combine(
            classify(text, ruleset, history=history), model, analysis, ruleset
        )
        assert "flood" in expected.flags
        assert classify_with_model(text, ruleset, model, history=history) == expected, text
        assert classify_json(text, ruleset, model, history=history) == reference_to_json(expected)


def test_fast_rounding_is_rounding() -> None:
    """Verdict JSON rounds with ``round3``: the same value and type as ``round(x, 3)``, computed
    and remembered; zeros keep their sign, whole numbers stay whole, halves and huge numbers too."""
    import random

    from incident.classify import round3, round3_fresh

    edges = [0.0, -0.0, 3, 3.0, 2.0005, 2.0015, -1.2345, 1e-9, -1e-9, 1e300, 0.1 + 0.2, 0.0625]
    edges += [-0.0625, 0.0005, -0.0005, 0.00049999, 1e9, 1e9 - 0.0625, 1e6 + 0.0005, 0.9995]
    edges += [float("inf"), float("-inf"), 5e-324, 2.0**-30, 123456.7895, -123456.7895]
    rng = random.Random(7)
    for _ in range(100_000):
        edges.append(rng.uniform(-1, 1) * 10 ** rng.randint(-6, 12))
        k = rng.randint(-(10**9), 10**9)  # the halves between thousandths, and their neighbours
        half = (k + 0.5) / 1000
        edges += [half, math.nextafter(half, math.inf), math.nextafter(half, -math.inf)]
    edges += [x / 1000 for x in range(-5000, 5000)] + [x / 16 for x in range(-5000, 5000)]
    for x in edges:
        want = round(x, 3)
        for _ in range(2):  # computed, then remembered
            got = round3(x)
            assert (type(got), repr(got)) == (type(want), repr(want)), x
        if isinstance(x, float):
            fresh = round3_fresh(x)
            assert (type(fresh), repr(fresh)) == (type(want), repr(want)), x
    for rounding in (round3, round3_fresh):
        nan = rounding(float("nan"))
        assert isinstance(nan, float)
        assert math.isnan(nan)


def test_words_the_model_has_no_feature_for_score_as_plain_scoring_did(
    ruleset: RuleSet, model: LearnedModel
) -> None:
    """A word none of whose letter groups the model knows adds nothing, alone or among known
    words, on its first reading and from the cache."""
    unknown = "ъъъъъ"
    assert _reference_word(model, unknown, ruleset.normalizer) is None
    for text in [unknown, f"нет воды {unknown} в доме", f"{unknown} {unknown}", ""]:
        for _ in range(2):
            analysis = ruleset.normalizer.analyze(text)
            expected = reference_combine(classify(text, ruleset), model, analysis, ruleset)
            assert classify_with_model(text, ruleset, model) == expected, text
            assert model.score(analysis, ruleset.normalizer) == reference_score(
                model, analysis, ruleset.normalizer
            )
