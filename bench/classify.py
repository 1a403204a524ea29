"""Measure the topic classifier: accuracy on labelled JSONL files and speed.

    .venv/bin/python bench/classify.py [FILE ...] [--quick] [--rules rules] [--errors]

With no FILE it measures the project's own two frozen test sets, ``bench/data/frozen.jsonl``
(written by the project after the rules existed and never used to tune them) and
``bench/data/holdout.jsonl`` (by a second writer who read nothing of the project):
``bench/data/README.md``. Pass several files to report each one, e.g. the test sets and a private
labelled set:
``bench/classify.py bench/data/frozen.jsonl bench/data/holdout.jsonl ../shared/eval/dev.jsonl``.

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
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from incident.classify import classify
from incident.learned import LearnedModel, classify_with_model, combine
from incident.rules import RuleSet, load_ruleset
from incident.training import correction_samples, fit, rule_samples, rules_model

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "bench" / "data" / "frozen.jsonl"
HOLDOUT = ROOT / "bench" / "data" / "holdout.jsonl"  # the second test set (bench/data/README.md)
POOL = ROOT / "bench" / "data" / "corrections.jsonl"
CURVE_SIZES = (0, 50, 200, 500)


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
    data: Labelled,
    ruleset: RuleSet,
    own: LearnedModel,
    naive: Callable[[str], str],
    *,
    quick: bool,
    errors: bool,
) -> tuple[float, float, float | None]:
    """Print the rules' and the baselines' reports for one file; (rules, naive, svm) macro-F1.
    "rules" is what ``incident classify`` gives by default: the rules with their own model
    (``own``) naming the comments they leave unclassified; "rules alone" is ``--no-model``."""
    texts, labels = data.texts, data.labels
    topics = sorted(set(labels))
    print(f"== {data.path}: {len(texts)} labelled comments, {len(topics)} topics")
    alone = [classify(t, ruleset).topic for t in texts]
    print()
    alone_f1 = report("rules alone (classify --no-model)", labels, alone, topics)
    print()
    verdicts = [classify_with_model(t, ruleset, own) for t in texts]
    rule_pred = [v.topic for v in verdicts]
    rules_f1 = report("rules + their own model (classify, the default)", labels, rule_pred, topics)
    filled = sum(1 for v in verdicts if v.model and v.model["changed"] == "filled")
    right = sum(
        1
        for v, g in zip(verdicts, labels, strict=True)
        if v.model and v.model["changed"] == "filled" and v.topic == g
    )
    print(f"  filled by the rules' own model: {filled}, right {right}")
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
        f"{data.path.name}: macro-F1 rules alone={alone_f1:.3f}, rules + their own model "
        f"(the default)={rules_f1:.3f}, naive={naive_f1:.3f}, "
        f"svm={'skipped' if svm_f1 is None else f'{svm_f1:.3f}'}; "
        f"accuracy target {'met' if met else 'NOT met'}"
    )
    print()
    return rules_f1, naive_f1, svm_f1


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the gold topics (as ``report`` computes it), printing nothing."""
    topics = sorted(set(gold))
    f1s = []
    for t in topics:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == t)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == t != g)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == t != p)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def with_model(texts: Sequence[str], ruleset: RuleSet, model: LearnedModel) -> list[str]:
    """The topics the rules and the model give together (as the worker stores them)."""
    return [
        combine(classify(t, ruleset), model, ruleset.normalizer.analyze(t), ruleset).topic
        for t in texts
    ]


def learning_curve(
    files: Sequence[Labelled], pool: Labelled, ruleset: RuleSet, draws: int
) -> LearnedModel:
    """Macro-F1 of rules + model on every file after 0, 50, 200, 500 simulated corrections
    drawn from the disjoint pool (``draws`` random draws a size: mean, spread). The model is
    never tuned here: the figures only measure. Returns the model trained on the whole pool."""
    print(
        f"== learning curve: rules + model after N simulated staff corrections drawn from "
        f"{pool.path.name} ({len(pool.texts)} comments, disjoint from the frozen set), "
        f"{draws} random draws per N"
    )
    base = rule_samples(ruleset)
    rules_f1 = {
        d.path.name: macro_f1(d.labels, [classify(t, ruleset).topic for t in d.texts])
        for d in files
    }
    print("  rules alone: " + ", ".join(f"{k} {v:.3f}" for k, v in rules_f1.items()))
    indexes = list(range(len(pool.texts)))
    fit_seconds: list[float] = []
    for size in CURVE_SIZES:
        scores: dict[str, list[float]] = {d.path.name: [] for d in files}
        for draw in range(draws if 0 < size < len(pool.texts) else 1):
            chosen = random.Random(draw).sample(indexes, min(size, len(indexes)))
            pairs = [(pool.texts[i], pool.labels[i]) for i in chosen]
            started = time.perf_counter()
            model = fit(base + correction_samples(pairs), ruleset, corrections=len(pairs))
            fit_seconds.append(time.perf_counter() - started)
            for d in files:
                scores[d.path.name].append(macro_f1(d.labels, with_model(d.texts, ruleset, model)))
        cells = []
        for name, values in scores.items():
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(
                f"{name} mean {statistics.mean(values):.3f} sd {spread:.3f} "
                f"(min {min(values):.3f}, max {max(values):.3f}, {len(values)} draws)"
            )
        print(f"  N={size:>3}: " + "; ".join(cells))
    print(f"  training time: median {statistics.median(fit_seconds):.1f} s a model")
    full = fit(
        base + correction_samples(list(zip(pool.texts, pool.labels, strict=True))),
        ruleset,
        corrections=len(pool.texts),
    )
    for d in files:
        f1 = macro_f1(d.labels, with_model(d.texts, ruleset, full))
        print(
            f"  {d.path.name}: rules {rules_f1[d.path.name]:.3f}, "
            f"rules + model on all {len(pool.texts)} corrections {f1:.3f}"
        )
    print()
    return full


def real_shaped(texts: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """``n`` distinct comments shaped like the labelled ones: the start of one comment spliced
    to the end of another, the result about as long as the first (so lengths and vocabulary
    follow real traffic, yet no two comments are the same text)."""
    r = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        a, b = r.choice(texts).split(), r.choice(texts).split()
        keep = r.randint(1, len(a)) if a else 0
        tail = b[len(b) - max(0, min(len(b), len(a) - keep)) :] if b else []
        text = " ".join(a[:keep] + tail)
        if text:
            out[text] = None
    return list(out)


def cli_seconds(lines_file: Path, extra: Sequence[str]) -> tuple[float, int]:
    """(CPU seconds, output lines) of ``incident classify --jsonl`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "incident",
            "classify",
            "--rules",
            str(ROOT / "rules"),
            "--jsonl",
            str(lines_file),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, done.stdout.count("\n")


def baseline_seconds(lines_file: Path) -> float:
    """CPU seconds of the floor: a child process that only reads each line as JSON and writes a
    JSON object back (the CLI's own I/O, no classification)."""
    code = (
        "import json,sys\n"
        "for line in open(sys.argv[1], encoding='utf-8'):\n"
        "    print(json.dumps({'topic': json.loads(line)['text'][:10]}, ensure_ascii=False))\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code, str(lines_file)], capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cli_speed(texts: Sequence[str], n: int, model: LearnedModel | None, repeats: int = 5) -> None:
    """``incident classify --jsonl`` on ``n`` distinct real-shaped comments, CPU time of the
    child; start-up excluded by subtracting a run on one line; each the least of ``repeats``.
    Printed beside a same-run baseline (the bare JSON read and write): the rules alone, the
    default (the rules with their own model), and ``model`` given with ``--model``."""
    comments = real_shaped(texts, n)
    with tempfile.TemporaryDirectory() as folder:
        many, one = Path(folder) / "many.jsonl", Path(folder) / "one.jsonl"
        many.write_text(
            "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in comments),
            encoding="utf-8",
        )
        one.write_text(json.dumps({"text": comments[0]}, ensure_ascii=False) + "\n", "utf-8")
        runs: list[tuple[str, list[str]]] = [
            ("rules alone (--no-model)", ["--no-model"]),
            ("rules + their own model (the default)", []),
        ]
        if model is not None:
            path = Path(folder) / "model.json"
            path.write_text(json.dumps(model.to_data(), ensure_ascii=False), encoding="utf-8")
            runs.append(
                (
                    f"rules + a model that learned {model.corrections} corrections (--model)",
                    ["--model", str(path)],
                )
            )
        floor = min(baseline_seconds(many) for _ in range(repeats)) - min(
            baseline_seconds(one) for _ in range(repeats)
        )
        print(
            f"== CLI path: incident classify --jsonl, {n:,} distinct real-shaped comments, "
            "CPU seconds of the child process, start-up (a one-line run) subtracted"
        )
        print(f"  baseline (JSON read and write only): {n / floor:,.0f} comments/s")
        # the least of a few runs each, the kinds of run taken in turn: a shared machine only
        # ever adds time to a run, and a slow spell then falls on every kind alike
        totals: dict[str, list[float]] = {name: [] for name, _ in runs}
        starts: dict[str, list[float]] = {name: [] for name, _ in runs}
        for _ in range(repeats):
            for name, extra in runs:
                total, lines = cli_seconds(many, extra)
                assert lines == n, f"{lines} verdicts for {n} comments"
                totals[name].append(total)
                starts[name].append(cli_seconds(one, extra)[0])
        for name, _ in runs:
            speed = n / (min(totals[name]) - min(starts[name]))
            print(
                f"  {name}: {speed:,.0f} comments/s of one core (start-up "
                f"{min(starts[name]):.2f} s; best of {repeats}); "
                f"target >= 20,000: {'met' if speed >= 20_000 else 'NOT met'}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data",
        type=Path,
        nargs="*",
        help="labelled JSONL files, {'text', 'topic'} per line (default: the two frozen test "
        f"sets, {FROZEN.relative_to(ROOT)} and {HOLDOUT.relative_to(ROOT)})",
    )
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--quick", action="store_true", help="skip the SVM and naive speed")
    parser.add_argument("--errors", action="store_true", help="list misclassified line numbers")
    parser.add_argument("--speed-n", type=int, default=20_000)
    parser.add_argument("--draws", type=int, default=5, help="random draws per curve size")
    parser.add_argument(
        "--no-curve",
        action="store_true",
        help="skip the learning curve (the CLI path is still timed with a model trained once)",
    )
    args = parser.parse_args(argv)

    files = [load(path) for path in (args.data or [FROZEN, HOLDOUT])]
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
    own = rules_model(ruleset)
    for data in files:
        print()
        evaluate(data, ruleset, own, naive, quick=args.quick, errors=args.errors)

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
    print()
    if args.no_curve:  # no curve, but the CLI path is still measured with a trained model
        pool = load(POOL)
        pairs = list(zip(pool.texts, pool.labels, strict=True))
        model = fit(
            rule_samples(ruleset) + correction_samples(pairs), ruleset, corrections=len(pairs)
        )
    else:
        model = learning_curve(files, load(POOL), ruleset, args.draws)
    cli_speed(all_texts, args.speed_n, model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
