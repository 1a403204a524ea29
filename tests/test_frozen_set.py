"""The project's own labelled comments in ``bench/data`` (issue 12).

``frozen.jsonl`` is the test set the classifier is measured on: it may change only as a
deliberate, reviewed act, so its SHA-256 is recorded in ``FROZEN.sha256`` and checked here.
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
MIN_PER_TOPIC = 45
MIN_EXCERPTS_PER_TOPIC = 10
NEAR_DUPLICATE = 85  # rapidfuzz token_set_ratio, on lower-cased alphanumeric words


def rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_the_frozen_file_is_the_one_recorded_in_frozen_sha256() -> None:
    recorded = (DATA / "FROZEN.sha256").read_text(encoding="utf-8").split()
    assert recorded[1:] == ["frozen.jsonl"]
    digest = hashlib.sha256(FROZEN.read_bytes()).hexdigest()
    assert digest == recorded[0], (
        "bench/data/frozen.jsonl changed: the frozen set changes only on purpose; if this change "
        "is deliberate and reviewed, record the new digest with "
        "`cd bench/data && sha256sum frozen.jsonl > FROZEN.sha256` and say why in the commit"
    )


@pytest.mark.parametrize(("path", "prefix"), [(FROZEN, "f"), (CORRECTIONS, "c")])
def test_every_line_is_one_labelled_comment_with_a_unique_id(path: Path, prefix: str) -> None:
    data = rows(path)
    ids = [row["id"] for row in data]
    assert len(ids) == len(set(ids))
    for row in data:
        assert set(row) == {"id", "text", "topic", "style"}, row["id"]
        assert re.fullmatch(rf"{prefix}\d{{4}}", row["id"]), row["id"]
        assert row["topic"] in TOPICS, row["id"]
        assert row["style"] in STYLES, row["id"]
        assert row["text"] == row["text"].strip() != "", row["id"]
    texts = [row["text"] for row in data]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(("path", "minimum"), [(FROZEN, MIN_PER_TOPIC), (CORRECTIONS, 60)])
def test_every_topic_is_there_often_enough_in_every_style(path: Path, minimum: int) -> None:
    data = rows(path)
    per_topic = Counter(row["topic"] for row in data)
    assert set(per_topic) == TOPICS
    assert min(per_topic.values()) >= minimum, per_topic
    per_style = Counter((row["topic"], row["style"]) for row in data)
    for topic in TOPICS:
        assert per_style[(topic, "excerpt")] >= MIN_EXCERPTS_PER_TOPIC, topic
        assert all(per_style[(topic, style)] > 0 for style in STYLES), topic


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
