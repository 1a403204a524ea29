"""The learned part of the classifier, scored in the pure core with plain dict lookups.

A ``LearnedModel`` is a multinomial linear model (logistic regression, trained by
``incident.training`` with scikit-learn) exported as plain data: for every feature the weight it
gives each topic, an intercept per topic, and the version of the rules it was trained with.
Scoring it needs no numpy: this module does dict lookups and sums of short tuples.

Features are per word, so that "which words pushed it" is the explanation: every distinct word
of a comment (as ``Normalizer.analyze`` splits it) contributes its snowball stem (``s:<stem>``)
and the character 3- and 4-grams of its folded form with word boundaries (``c:<gram>``); a
comment's vector is the sum over its distinct words divided by the square root of their number.
``features`` builds exactly that vector for training; ``LearnedModel.score`` computes the same
dot products from per-word cached totals.

``combine`` decides how the model and the rules agree (see its docstring): the rules decide
when they are sure; the model fills the comments the rules leave unclassified and breaks the
rules' close calls. The verdict records the model's version and what it contributed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, mul, sub, truediv
from typing import Any, NamedTuple

from incident.classify import (
    Match,
    Verdict,
    VerdictFields,
    round3,
    round3_fresh,
    rule_fields,
    verdict_json,
)
from incident.models import UNCLASSIFIED
from incident.rules import RuleSet
from incident.text import Analysis, Normalizer

__all__ = [
    "FORMAT",
    "CombinePolicy",
    "LearnedModel",
    "ModelError",
    "ModelScore",
    "classify_json",
    "classify_with_model",
    "combine",
    "features",
    "word_features",
]

FORMAT = 1
_NGRAMS = (3, 4)
_WORD_CACHE_LIMIT = 50_000  # words whose summed weights are kept: at most about 20 MB
_MAX_WORD = 40  # longer "words" (hostile runs of letters) give their first 40 letters' grams
_TOP = 3  # words shown as the model's explanation


class ModelError(ValueError):
    """Stored model data that cannot be a model (wrong format, shapes or values)."""


def word_features(form: str, stem: str) -> dict[str, float]:
    """The features one word contributes: its stem and its folded form's character grams."""
    out: dict[str, float] = {"s:" + stem: 1.0}
    padded = "<" + form[:_MAX_WORD] + ">"
    for n in _NGRAMS:
        for i in range(len(padded) - n + 1):
            key = "c:" + padded[i : i + n]
            out[key] = out.get(key, 0.0) + 1.0
    return out


def features(text: str, normalizer: Normalizer) -> dict[str, float]:
    """The comment's feature vector as the model sees it (what training fits on)."""
    first = dict.fromkeys(normalizer.analyze(text).raw)  # the distinct words
    out: dict[str, float] = {}
    for raw in first:
        form, stem = normalizer.word(raw)
        for key, value in word_features(form, stem).items():
            out[key] = out.get(key, 0.0) + value
    if first:
        scale = 1.0 / math.sqrt(len(first))
        out = {k: v * scale for k, v in out.items()}
    return out


class ModelScore(NamedTuple):
    """What the model says of one comment: its best topic and that topic's probability, every
    topic's probability, and the words that pushed the best topic most: (word as written,
    start, end, contribution). (A named tuple: one is built per comment.)"""

    topic: str
    probability: float
    probabilities: Mapping[str, float]
    words: tuple[tuple[str, int, int, float], ...]

    def of(self, topic: str | None) -> float:
        return self.probabilities.get(topic, 0.0) if topic is not None else 0.0


class LearnedModel:
    """A trained linear model as plain data, scored without numpy."""

    __slots__ = (
        "_cache",
        "corrections",
        "examples",
        "intercepts",
        "ruleset_version",
        "topics",
        "trained_at",
        "version",
        "weights",
    )

    def __init__(
        self,
        *,
        version: int,
        ruleset_version: str,
        topics: Sequence[str],
        intercepts: Sequence[float],
        weights: Mapping[str, Sequence[float]],
        trained_at: str = "",
        examples: int = 0,
        corrections: int = 0,
    ) -> None:
        self.version = version
        self.ruleset_version = ruleset_version
        self.topics = tuple(topics)
        self.intercepts = tuple(float(b) for b in intercepts)
        self.weights = {k: tuple(float(x) for x in v) for k, v in weights.items()}
        self.trained_at = trained_at
        self.examples = examples
        self.corrections = corrections
        # raw word -> the word's summed weights per topic (empty: no known feature)
        self._cache: dict[str, tuple[float, ...]] = {}

    # ------------------------------------------------------------------ plain data

    def to_data(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "ruleset_version": self.ruleset_version,
            "topics": list(self.topics),
            "intercepts": [round(b, 5) for b in self.intercepts],
            "weights": {k: [round(x, 5) for x in v] for k, v in self.weights.items()},
            "trained_at": self.trained_at,
            "examples": self.examples,
            "corrections": self.corrections,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LearnedModel:
        """The model ``to_data`` wrote; raises ModelError for anything else."""
        try:
            if data.get("format") != FORMAT:
                raise ModelError(f"unknown model format {data.get('format')!r}")
            topics = [str(t) for t in data["topics"]]
            intercepts = [float(b) for b in data["intercepts"]]
            weights = {str(k): [float(x) for x in v] for k, v in data["weights"].items()}
            if not topics or len(intercepts) != len(topics):
                raise ModelError("topics and intercepts differ in number")
            size = len(topics)
            if any(len(v) != size for v in weights.values()):
                raise ModelError("a feature's weights do not match the topics")
            values = [*intercepts, *(x for v in weights.values() for x in v)]
            if not all(math.isfinite(x) for x in values):
                raise ModelError("a weight is not a finite number")
            return cls(
                version=int(data["version"]),
                ruleset_version=str(data["ruleset_version"]),
                topics=topics,
                intercepts=intercepts,
                weights=weights,
                trained_at=str(data.get("trained_at", "")),
                examples=int(data.get("examples", 0)),
                corrections=int(data.get("corrections", 0)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"not a stored model: {exc!r}") from exc

    # ------------------------------------------------------------------ scoring

    def _word(self, raw: str, normalizer: Normalizer) -> tuple[float, ...]:
        """The word's summed weights per topic, remembered; ``()`` when no feature is known."""
        form, stem = normalizer.word(raw)
        get = self.weights.get
        padded = "<" + form[:_MAX_WORD] + ">"
        keys = ["s:" + stem]
        for n in _NGRAMS:
            keys += ["c:" + padded[i : i + n] for i in range(len(padded) - n + 1)]
        if len(set(keys)) == len(keys):  # most words: every feature once, in word_features' order
            found = list(filter(None, map(get, keys)))  # weights: non-empty tuples
        else:
            found = [
                w if count == 1.0 else tuple([x * count for x in w])
                for key, count in word_features(form, stem).items()
                if (w := get(key)) is not None
            ]
        result = tuple(map(sum, zip(*found, strict=True))) if found else ()
        cache = self._cache
        if len(cache) >= _WORD_CACHE_LIMIT:
            cache.clear()
        cache[raw] = result
        return result

    def score(self, analysis: Analysis, normalizer: Normalizer) -> ModelScore:
        """Topic probabilities of an analysed comment and the words behind the best one."""
        best, exps, total, pushes, scale = self._logits(analysis, normalizer)
        probabilities = dict(zip(self.topics, map(truediv, exps, repeat(total)), strict=True))
        raw, span = analysis.raw, analysis.span
        found = tuple([(w, *span(raw.index(w)), round3(push * scale)) for push, w in pushes])
        return ModelScore(self.topics[best], exps[best] / total, probabilities, found)

    def _logits(
        self, analysis: Analysis, normalizer: Normalizer
    ) -> tuple[int, list[float], float, list[tuple[float, str]], float]:
        """(the best topic's index, exp(logit - max logit) per topic, their sum, the words that
        pushed the best topic most as (push, word), the scale 1/sqrt(distinct words)).

        The hot path of ``classify --jsonl`` with a model (``combine`` reads these directly;
        ``score`` wraps them), so every step over the words or the topics is a C-level ``map``
        or ``zip``: the distinct words' cached sums (``_word``), their sum per topic, the
        logits, the softmax. The arithmetic is the same, operation by operation and in the same
        order, as the plain loops it replaced (the verdicts are identical to the last bit:
        tests/test_classify_model_identity.py)."""
        distinct = dict.fromkeys(analysis.raw)  # the distinct words, in text order
        # the words' sums: None for a word not seen yet, () for one with no known feature
        vectors: list[Any] = list(map(self._cache.get, distinct))
        words: Iterable[str]
        if all(vectors):  # most comments: every word seen before and known
            known, words = vectors, distinct
        else:
            if None in vectors:
                vectors = [
                    self._word(w, normalizer) if v is None else v
                    for w, v in zip(distinct, vectors, strict=True)
                ]
            known, words = list(filter(None, vectors)), compress(distinct, vectors)
        if known:
            scale = 1.0 / math.sqrt(len(distinct))
            columns = list(zip(*known, strict=True))  # per topic: the known words in text order
            logits = list(map(add, self.intercepts, map(mul, map(sum, columns), repeat(scale))))
        else:
            scale = 0.0
            logits = list(self.intercepts)
        exps = list(map(math.exp, map(sub, logits, repeat(max(logits)))))
        best = exps.index(max(exps))
        pushes = (
            [
                (push, w)
                for push, w in zip(columns[best], words, strict=True)
                if push > 0 and len(w) > 2
            ]
            if known
            else []
        )
        if len(pushes) > 1:
            pushes.sort(reverse=True)
            del pushes[_TOP:]
        return best, exps, sum(exps), pushes, scale


@dataclass(frozen=True, slots=True)
class CombinePolicy:
    """When the model may speak. Chosen on the corrections pool (bench/data/corrections.jsonl),
    never on the frozen set: there, filling the rules' unclassified comments from 0.3 on fixed
    30 of 620 and broke none, while breaking the rules' close calls broke as many as it fixed.

    ``fill``: the least probability with which the model names the topic of a comment the
    rules left unclassified. ``tie``: the rules' confidence (lead over the runner-up, 0..1)
    under which a close call goes to the model's choice among the rules' two best topics
    (0: never). ``override``: the least probability with which a model that learned from staff
    corrections overrules the rules' topic outright (a model that saw no correction only
    echoes the rules and never overrules them)."""

    fill: float = 0.3
    tie: float = 0.0
    override: float = 0.9


_PLAIN = CombinePolicy()

# A verdict's fields with the model's note: ``Verdict(*fields)``.
_ModelFields = tuple[
    str,
    float,
    float,
    tuple[Match, ...],
    str | None,
    float,
    frozenset[str],
    tuple[str, ...],
    tuple[tuple[str, float], ...],
    str | None,
    bool,
    str,
    dict[str, Any] | None,
]


def combine(
    verdict: Verdict,
    model: LearnedModel | None,
    analysis: Analysis,
    ruleset: RuleSet,
    policy: CombinePolicy = _PLAIN,
) -> Verdict:
    """The rules' verdict with the model's say in it.

    The rules decide when they are sure. The model (1) names the topic of a comment the
    rules left unclassified when its probability reaches ``policy.fill``; (2) breaks a close
    call of the rules (confidence under ``policy.tie``) in favour of the runner-up when it
    prefers it; (3) overrules the rules only when it learned from corrections and is at least
    ``policy.override`` sure.
    Spam found by the rules' spam features (links, floods, abuse) is never overruled.
    A model that learned no correction (and a policy that breaks no close call) can only do
    (1), so it is asked only about the comments the rules left unclassified: the other
    verdicts are the rules' own, without a note of the model (and without its cost).
    The verdict's ``model`` records the model's version, its best topic and probability, the
    words that pushed it, and whether it changed the topic (``changed``).
    """
    if model is None:
        return verdict
    fields: VerdictFields = (
        verdict.topic,
        verdict.score,
        verdict.confidence,
        verdict.matches,
        verdict.runner_up,
        verdict.runner_up_score,
        verdict.flags,
        verdict.reasons,
        verdict.scores,
        verdict.redirect,
        verdict.in_competence,
        verdict.ruleset_version,
    )
    return Verdict(*_combined(fields, model, analysis, ruleset, policy))


def classify_with_model(
    text: str,
    ruleset: RuleSet,
    model: LearnedModel | None,
    *,
    history: Sequence[str] = (),
    policy: CombinePolicy = _PLAIN,
) -> Verdict:
    """``combine(classify(text, ruleset, history=history), model, analysis, ruleset, policy)``
    with one verdict built instead of two, and the comment analysed once for the rules and the
    model: the per-comment path of ``classify --jsonl`` (the same verdicts, field for field:
    tests/test_classify_model_identity.py)."""
    fields = rule_fields(text, ruleset, history)
    if model is None:
        return Verdict(*fields)
    return Verdict(*_combined(fields, model, ruleset.normalizer.analyze(text), ruleset, policy))


def classify_json(
    text: str,
    ruleset: RuleSet,
    model: LearnedModel | None,
    *,
    history: Sequence[str] = (),
    policy: CombinePolicy = _PLAIN,
) -> dict[str, Any]:
    """``classify_with_model(...).to_json()`` without building the verdict: what
    ``classify --jsonl`` writes for each comment (tests/test_classify_model_identity.py)."""
    fields = rule_fields(text, ruleset, history)
    if model is None:
        return verdict_json(fields)
    combined = _combined(fields, model, ruleset.normalizer.analyze(text), ruleset, policy)
    return verdict_json(combined[:12], combined[12])


def _probability(
    topics: tuple[str, ...], exps: list[float], total: float, topic: str | None
) -> float:
    """``ModelScore.of`` from the softmax's parts, without building every probability."""
    return exps[topics.index(topic)] / total if topic in topics else 0.0


def _combined(
    fields: VerdictFields,
    model: LearnedModel,
    analysis: Analysis,
    ruleset: RuleSet,
    policy: CombinePolicy,
) -> _ModelFields:
    """``combine``'s work on the rules' verdict given as its fields: the combined verdict's
    fields, the model's note last."""
    topic, score, confidence, _, runner_up = fields[:5]
    if topic != UNCLASSIFIED and model.corrections == 0 and policy.tie <= 0:
        # a model that learned no correction can only fill what the rules left unclassified:
        # elsewhere it is not asked, and the verdict carries no note of it
        return (*fields, None)
    best, exps, total, pushes, scale = model._logits(analysis, ruleset.normalizer)
    topics = model.topics
    best_topic = topics[best]
    probability = exps[best] / total
    chosen = topic
    how = ""
    if fields[7] and topic == "spam":  # spam with the rules' reasons: never overruled
        chosen = topic
    elif topic == UNCLASSIFIED:
        if probability >= policy.fill and best_topic != UNCLASSIFIED:
            chosen, how = best_topic, "filled"
    elif model.corrections > 0 and best_topic != topic and probability >= policy.override:
        chosen, how = best_topic, "override"
    elif (
        runner_up is not None
        and confidence < policy.tie
        and _probability(topics, exps, total, runner_up) > _probability(topics, exps, total, topic)
    ):
        chosen, how = runner_up, "tie"
    words = []
    if pushes:
        raw, span = analysis.raw, analysis.span
        for push, w in pushes:
            start, end = span(raw.index(w))
            words.append({"word": w, "span": [start, end], "weight": round3_fresh(push * scale)})
    note: dict[str, Any] = {
        "version": model.version,
        "topic": best_topic,
        "probability": round3_fresh(probability),
        "words": words,
        "changed": how or None,
        "rules_topic": topic,
    }
    # The fields in Verdict's order (``dataclasses.replace`` walks the fields and was a tenth of
    # a comment's time with a model; ``classify --jsonl`` builds no verdict at all).
    if chosen == topic:
        return (*fields, note)
    scores = dict(fields[8])
    rules = ruleset.topics.get(chosen)
    classified = topic != UNCLASSIFIED
    return (
        chosen,
        scores.get(chosen, 0.0),
        round3(_probability(topics, exps, total, chosen)),
        fields[3],
        topic if classified else runner_up,
        score if classified else fields[5],
        fields[6],
        fields[7],
        fields[8],
        rules.redirects[0].id if rules is not None and rules.redirects else None,
        bool(rules is not None and rules.in_competence),
        fields[11],
        note,
    )
