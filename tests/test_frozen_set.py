"""The project's own labelled comments in ``bench/data`` (issue 12).

``frozen.jsonl`` and ``holdout.jsonl`` (a second writer's) are the test sets the classifier is
measured on: they may change only as a deliberate, reviewed act, so their SHA-256 digests are
recorded in ``FROZEN.sha256`` and checked here.
``corrections.jsonl`` is the pool that simulates staff corrections: no text of the frozen set may
be a near-duplicate of one of its texts, or a correction would leak the answer into the
measurement.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rapidfuzz import fuzz, process, utils

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
FROZEN = DATA / "frozen.jsonl"
CORRECTIONS = DATA / "corrections.jsonl"
HOLDOUT = DATA / "holdout.jsonl"  # the second test set, by another writer (README)
TOPICS = frozenset(
    {
        "trade",
        "services",
        "food",
        "telecom",
        "finance",
        "transport",
        "housing",
        "medical",
        "other",
        "spam",
    }
)
STYLES = frozenset({"full", "excerpt", "short", "question", "emotional"})
HOLDOUT_STYLES = frozenset({"review", "appeal", "tweet", "excerpt", "short", "question"})
MIN_PER_TOPIC = 45
MIN_EXCERPTS_PER_TOPIC = 10
NEAR_DUPLICATE = 85  # rapidfuzz token_set_ratio, on lower-cased alphanumeric words


def rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.mark.parametrize("path", [FROZEN, HOLDOUT], ids=["frozen", "holdout"])
def test_the_frozen_files_are_the_ones_recorded_in_frozen_sha256(path: Path) -> None:
    lines = (DATA / "FROZEN.sha256").read_text(encoding="utf-8").splitlines()
    recorded = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(recorded) == {"frozen.jsonl", "holdout.jsonl"}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == recorded[path.name], (
        f"bench/data/{path.name} changed: a frozen set changes only on purpose; if this change "
        "is deliberate and reviewed, record the new digest with "
        "`cd bench/data && sha256sum frozen.jsonl holdout.jsonl > FROZEN.sha256` and say why "
        "in the commit"
    )


@pytest.mark.parametrize(
    ("path", "prefix", "styles"),
    [(FROZEN, "f", STYLES), (CORRECTIONS, "c", STYLES), (HOLDOUT, "h", HOLDOUT_STYLES)],
    ids=["frozen", "corrections", "holdout"],
)
def test_every_line_is_one_labelled_comment_with_a_unique_id(
    path: Path, prefix: str, styles: frozenset[str]
) -> None:
    data = rows(path)
    ids = [row["id"] for row in data]
    assert len(ids) == len(set(ids))
    for row in data:
        assert set(row) == {"id", "text", "topic", "style"}, row["id"]
        assert re.fullmatch(rf"{prefix}\d{{4}}", row["id"]), row["id"]
        assert row["topic"] in TOPICS, row["id"]
        assert row["style"] in styles, row["id"]
        assert row["text"] == row["text"].strip() != "", row["id"]
    texts = [row["text"] for row in data]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(
    ("path", "minimum", "styles"),
    [(FROZEN, MIN_PER_TOPIC, STYLES), (CORRECTIONS, 60, STYLES), (HOLDOUT, 35, HOLDOUT_STYLES)],
    ids=["frozen", "corrections", "holdout"],
)
def test_every_topic_is_there_often_enough_in_every_style(
    path: Path, minimum: int, styles: frozenset[str]
) -> None:
    data = rows(path)
    per_topic = Counter(row["topic"] for row in data)
    assert set(per_topic) == TOPICS
    assert min(per_topic.values()) >= minimum, per_topic
    per_style = Counter((row["topic"], row["style"]) for row in data)
    for topic in TOPICS:
        assert per_style[(topic, "excerpt")] >= min(MIN_EXCERPTS_PER_TOPIC, minimum // 6), topic
        assert all(per_style[(topic, style)] > 0 for style in styles), topic


def test_no_frozen_text_is_a_near_duplicate_of_a_corrections_text() -> None:
    corrections = rows(CORRECTIONS)
    pool = [row["text"] for row in corrections]
    close = []
    for row in rows(FROZEN):
        found = process.extractOne(
            row["text"],
            pool,
            scorer=fuzz.token_set_ratio,
            processor=utils.default_process,
            score_cutoff=NEAR_DUPLICATE,
        )
        if found is not None:
            close.append((row["id"], corrections[found[2]]["id"], round(found[1], 1)))
    assert close == []
