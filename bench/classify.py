"""Measure the topic classifier: accuracy on a labelled JSONL file and speed.

    .venv/bin/python bench/classify.py /work/shared/eval/dev.jsonl [--quick] [--rules rules]

Prints, for the rule classifier and two baselines (a naive rapidfuzz matcher and a TF-IDF +
linear SVM trained by cross-validation on the same file), macro-F1 and per-topic precision and
recall; then the rule set's load time and comments per second on one core. ``--quick`` skips
the SVM (scikit-learn is a dev-only dependency imported only here) and the naive speed run.
``--errors`` lists the misclassified texts' ids and labels (not the texts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from rapidfuzz import process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from incident.classify import classify
from incident.rules import RuleSet, load_ruleset


def load(path: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row["topic"])
    return texts, labels


def report(name: str, gold: Sequence[str], pred: Sequence[str], topics: Sequence[str]) -> float:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            fp[p] += 1
    f1s = []
    rows = []
    for t in topics:
        precision = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 0.0
        recall = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        rows.append(f"  {t:<10} P={precision:.3f} R={recall:.3f} F1={f1:.3f} n={tp[t] + fn[t]}")
    macro = sum(f1s) / len(f1s)
    accuracy = sum(tp.values()) / len(gold)
    unclassified = sum(1 for p in pred if p == "unclassified")
    print(f"{name}: macro-F1={macro:.3f} accuracy={accuracy:.3f} unclassified={unclassified}")
    print("\n".join(rows))
    return macro


def naive_matcher(ruleset: RuleSet) -> Callable[[str], str]:
    """rapidfuzz extractOne of the whole text against every rule phrase (default WRatio)."""
    choices: dict[int, str] = {}
    owners: dict[int, str] = {}
    for topic in ruleset.topics.values():
        phrases = list(topic.phrases)
        for redirect in topic.redirects:
            phrases.extend(redirect.phrases)
        for phrase in phrases:
            key = len(choices)
            choices[key] = phrase.text
            owners[key] = topic.id

    def predict(text: str) -> str:
        found = process.extractOne(text, choices, processor=str.lower)
        return owners[found[2]] if found else "unclassified"

    return predict


def svm_predictions(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.model_selection import (  # type: ignore[import-untyped]
        StratifiedKFold,
        cross_val_predict,
    )
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
        LinearSVC(C=1.0, class_weight="balanced"),
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    return [str(p) for p in cross_val_predict(model, list(texts), list(labels), cv=folds)]


def speed(fn: Callable[[str], object], texts: Sequence[str], total: int) -> tuple[float, float]:
    """(comments per CPU second of this process, comments per wall-clock second)."""
    batch = [texts[i % len(texts)] for i in range(total)]
    cpu, wall = time.process_time(), time.perf_counter()
    for text in batch:
        fn(text)
    return total / (time.process_time() - cpu), total / (time.perf_counter() - wall)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="labelled JSONL: {'text', 'topic'} per line")
    parser.add_argument("--rules", type=Path, default=Path("rules"))
    parser.add_argument("--quick", action="store_true", help="skip the SVM and naive speed")
    parser.add_argument("--errors", action="store_true", help="list misclassified line numbers")
    parser.add_argument("--speed-n", type=int, default=20_000)
    args = parser.parse_args(argv)

    texts, labels = load(args.data)
    topics = sorted(set(labels))
    start = time.perf_counter()
    ruleset = load_ruleset(args.rules)
    load_time = time.perf_counter() - start
    print(f"{len(texts)} labelled comments, {len(topics)} topics, rule set {ruleset.version}")

    start = time.process_time()
    verdicts = [classify(t, ruleset) for t in texts]
    cold = len(texts) / (time.process_time() - start)
    rule_pred = [v.topic for v in verdicts]
    print()
    rules_f1 = report("rules", labels, rule_pred, topics)
    if args.errors:
        for i, (g, v) in enumerate(zip(labels, verdicts, strict=True)):
            if g != v.topic:
                print(f"  line {i + 1}: gold={g} got={v.topic} scores={dict(v.scores)}")
    naive = naive_matcher(ruleset)
    print()
    naive_f1 = report("naive rapidfuzz extractOne", labels, [naive(t) for t in texts], topics)
    svm_f1 = None
    if not args.quick:
        print()
        svm_f1 = report("TF-IDF char 2-5 + LinearSVC, 5-fold CV", labels,
                        svm_predictions(texts, labels), topics)  # fmt: skip

    print()
    print(f"rule set load time: {load_time * 1000:.1f} ms (target < 1000 ms)")
    print(f"rules, cold caches (first pass over the file): {cold:,.0f} comments per CPU second")
    warm, warm_wall = speed(lambda t: classify(t, ruleset), texts, args.speed_n)
    print(
        f"rules, {args.speed_n:,} comments (the file cycled, warm caches), one thread: "
        f"{warm:,.0f} comments per CPU second, {warm_wall:,.0f} per wall second "
        "(target >= 20,000)"
    )
    if not args.quick:
        n = min(args.speed_n, 2_000)
        naive_speed, naive_wall = speed(naive, texts, n)
        print(
            f"naive matcher, {n:,} comments: {naive_speed:,.0f} comments per CPU second, "
            f"{naive_wall:,.0f} per wall second"
        )
    print()
    verdict = rules_f1 >= 0.85 and rules_f1 > naive_f1 and (svm_f1 is None or rules_f1 > svm_f1)
    print(
        f"macro-F1 rules={rules_f1:.3f} naive={naive_f1:.3f} "
        f"svm={'skipped' if svm_f1 is None else f'{svm_f1:.3f}'}; "
        f"accuracy target {'met' if verdict else 'NOT met'}; "
        f"speed target {'met' if warm >= 20_000 and load_time < 1 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
