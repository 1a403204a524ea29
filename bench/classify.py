"""Measure the topic classifier: accuracy on labelled JSONL files and speed.

    .venv/bin/python bench/classify.py [FILE ...] [--quick] [--rules rules] [--errors]

With no FILE it measures the project's own frozen test set, ``bench/data/frozen.jsonl`` (written
by the project after the rules existed and never used to tune them: ``bench/data/README.md``).
Pass several files to report each one, e.g. the frozen set and a private labelled set:
``bench/classify.py bench/data/frozen.jsonl ../shared/eval/dev.jsonl``.

Prints, for every file, the rule classifier's macro-F1, accuracy, unclassified count and per-topic
precision and recall (with accuracy per style when the file labels styles, and how many verdicts
were uncertain guesses and how often they were right), then the same for two
baselines: a naive rapidfuzz matcher and a TF-IDF + linear SVM trained by cross-validation on the
same file. Then, once, the rule set's load time and comments per second on one core over all the
files' texts. ``--quick`` skips the SVM (scikit-learn is a dev-only dependency imported only here;
without it the SVM is skipped with a note) and the naive speed run. ``--errors`` lists the
misclassified comments' line numbers, ids and labels (not the texts).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from incident.classify import classify
from incident.rules import RuleSet, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "bench" / "data" / "frozen.jsonl"


@dataclass(frozen=True)
class Labelled:
    """One labelled file: texts with their gold topics, and ids and styles where given."""

    path: Path
    texts: list[str]
    labels: list[str]
    ids: list[str | None]
    styles: list[str | None]


def load(path: Path) -> Labelled:
    texts: list[str] = []
    labels: list[str] = []
    ids: list[str | None] = []
    styles: list[str | None] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row["topic"])
                ids.append(row.get("id"))
                styles.append(row.get("style"))
    return Labelled(path, texts, labels, ids, styles)


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


def report_styles(styles: Sequence[str | None], gold: Sequence[str], pred: Sequence[str]) -> None:
    """Accuracy per style (full, excerpt, short, question, emotional) when the file has them."""
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for style, g, p in zip(styles, gold, pred, strict=True):
        if style is not None:
            total[style] += 1
            right[style] += g == p
    if total:
        print(
            "  accuracy by style: "
            + ", ".join(f"{s} {right[s] / total[s]:.3f} (n={total[s]})" for s in sorted(total))
        )


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


def svm_predictions(texts: Sequence[str], labels: Sequence[str]) -> list[str] | None:
    """5-fold cross-validated predictions, or None when scikit-learn is not installed."""
    if importlib.util.find_spec("sklearn") is None:
        return None
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


def evaluate(
    data: Labelled, ruleset: RuleSet, naive: Callable[[str], str], *, quick: bool, errors: bool
) -> tuple[float, float, float | None]:
    """Print the rules' and the baselines' reports for one file; (rules, naive, svm) macro-F1."""
    texts, labels = data.texts, data.labels
    topics = sorted(set(labels))
    print(f"== {data.path}: {len(texts)} labelled comments, {len(topics)} topics")
    verdicts = [classify(t, ruleset) for t in texts]
    rule_pred = [v.topic for v in verdicts]
    print()
    rules_f1 = report("rules", labels, rule_pred, topics)
    report_styles(data.styles, labels, rule_pred)
    guesses = [(g, v.topic) for g, v in zip(labels, verdicts, strict=True) if v.uncertain]
    right = sum(1 for g, p in guesses if g == p)
    all_right = sum(g == p for g, p in zip(labels, rule_pred, strict=True))
    print(
        f"  uncertain guesses («не уверен»): {len(guesses)}, right {right}; "
        f"the other verdicts right {all_right - right} of {len(labels) - len(guesses)}"
    )
    if errors:
        for i, (g, v) in enumerate(zip(labels, verdicts, strict=True)):
            if g != v.topic:
                name = f" ({data.ids[i]})" if data.ids[i] else ""
                print(f"  line {i + 1}{name}: gold={g} got={v.topic} scores={dict(v.scores)}")
    print()
    naive_f1 = report("naive rapidfuzz extractOne", labels, [naive(t) for t in texts], topics)
    svm_f1 = None
    if not quick:
        print()
        svm_pred = svm_predictions(texts, labels)
        if svm_pred is None:
            print("TF-IDF + LinearSVC: skipped, scikit-learn is not installed (.[bench] extra)")
        else:
            svm_f1 = report("TF-IDF char 2-5 + LinearSVC, 5-fold CV", labels, svm_pred, topics)
    met = rules_f1 >= 0.85 and rules_f1 > naive_f1 and (svm_f1 is None or rules_f1 > svm_f1)
    print()
    print(
        f"{data.path.name}: macro-F1 rules={rules_f1:.3f} naive={naive_f1:.3f} "
        f"svm={'skipped' if svm_f1 is None else f'{svm_f1:.3f}'}; "
        f"accuracy target {'met' if met else 'NOT met'}"
    )
    print()
    return rules_f1, naive_f1, svm_f1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data",
        type=Path,
        nargs="*",
        help="labelled JSONL files, {'text', 'topic'} per line (default: the frozen test set, "
        f"{FROZEN.relative_to(ROOT)})",
    )
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--quick", action="store_true", help="skip the SVM and naive speed")
    parser.add_argument("--errors", action="store_true", help="list misclassified line numbers")
    parser.add_argument("--speed-n", type=int, default=20_000)
    args = parser.parse_args(argv)

    files = [load(path) for path in (args.data or [FROZEN])]
    start = time.perf_counter()
    ruleset = load_ruleset(args.rules)
    load_time = time.perf_counter() - start
    all_texts = [t for data in files for t in data.texts]
    print(
        f"rule set {ruleset.version}; {len(files)} labelled file(s), "
        f"{len(all_texts)} comments in all"
    )

    # Cold caches: the first pass over every file's texts, before the reports warm them.
    start = time.process_time()
    for text in all_texts:
        classify(text, ruleset)
    cold = len(all_texts) / (time.process_time() - start)

    naive = naive_matcher(ruleset)
    for data in files:
        print()
        evaluate(data, ruleset, naive, quick=args.quick, errors=args.errors)

    print(f"rule set load time: {load_time * 1000:.1f} ms (target < 1000 ms)")
    print(f"rules, cold caches (first pass over the files): {cold:,.0f} comments per CPU second")
    warm, warm_wall = speed(lambda t: classify(t, ruleset), all_texts, args.speed_n)
    print(
        f"rules, {args.speed_n:,} comments (the files cycled, warm caches), one thread: "
        f"{warm:,.0f} comments per CPU second, {warm_wall:,.0f} per wall second "
        "(target >= 20,000)"
    )
    if not args.quick:
        n = min(args.speed_n, 2_000)
        naive_speed, naive_wall = speed(naive, all_texts, n)
        print(
            f"naive matcher, {n:,} comments: {naive_speed:,.0f} comments per CPU second, "
            f"{naive_wall:,.0f} per wall second"
        )
    print(f"speed target {'met' if warm >= 20_000 and load_time < 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
