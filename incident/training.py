"""Training the learned model, and its versions in the database.

``fit`` trains a multinomial logistic regression (scikit-learn, imported here only, inside
the function: the worker and the web app never load it unless they train) on the rules' own
examples and phrases plus staff topic corrections, and exports it as a plain-data
``LearnedModel`` (``incident.learned``). ``train_once`` reads the corrections (table
``topic_corrections`` with the incident's comment text), fits, and stores a new version
(table ``topic_models``, migration 0012) as the active one. ``list_models``, ``activate``
(a rollback, or a roll forward again: nothing is deleted) and ``active_model`` read and switch
the versions every worker and web process shares. ``rules_model`` is the model of the rules
alone (no correction), remembered on disk per rule-set version: what ``incident classify`` uses
when it is given no model, as a fresh worker's first scheduled training gives one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from incident import db, learned
from incident.learned import FORMAT, LearnedModel, ModelError, features
from incident.models import UNCLASSIFIED
from incident.rules import RuleSet

__all__ = [
    "ActiveModel",
    "ModelRow",
    "Sample",
    "TrainingResult",
    "activate",
    "active_model",
    "correction_samples",
    "fit",
    "list_models",
    "rule_samples",
    "rules_model",
    "train_once",
]

EXAMPLE_WEIGHT = 1.0
PHRASE_WEIGHT = 0.5
CORRECTION_WEIGHT = 2.0
MAX_TEXT = 2_000  # characters of a comment used for training (a story's start says enough)
MAX_CORRECTIONS = 20_000  # newest corrections used: bounds the training's time and memory
_MIN_WEIGHT = 1e-3  # features weaker than this for every topic are left out of the export
_C = 4.0  # inverse regularisation strength of the logistic regression
# how a model is made, in a few letters: a remembered rules model made otherwise is not reused
_RECIPE = hashlib.sha256(
    repr(
        (FORMAT, learned._NGRAMS, learned._MAX_WORD, EXAMPLE_WEIGHT, PHRASE_WEIGHT, _MIN_WEIGHT, _C)
    ).encode()
).hexdigest()[:8]


class Sample(NamedTuple):
    text: str
    topic: str
    weight: float


def rule_samples(ruleset: RuleSet) -> list[Sample]:
    """The rules' own knowledge as training data: every example comment of a topic, and
    every positive phrase (of the topic and of its redirects) as a short text."""
    out: list[Sample] = []
    for topic in ruleset.topics.values():
        out.extend(Sample(e, topic.id, EXAMPLE_WEIGHT) for e in topic.examples)
        phrases = [*topic.phrases, *(p for r in topic.redirects for p in r.phrases)]
        out.extend(Sample(p.text, topic.id, PHRASE_WEIGHT) for p in phrases if p.weight > 0)
    return out


def correction_samples(pairs: Sequence[tuple[str, str]]) -> list[Sample]:
    """(text, corrected topic) pairs as training samples."""
    return [Sample(text[:MAX_TEXT], topic, CORRECTION_WEIGHT) for text, topic in pairs]


def fit(
    samples: Sequence[Sample],
    ruleset: RuleSet,
    *,
    version: int = 0,
    trained_at: str = "",
    corrections: int = 0,
) -> LearnedModel:
    """A model trained on ``samples``, exported as plain data. Topics outside the rule set
    (and "unclassified") are left out."""
    from sklearn.feature_extraction import DictVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    known = [s for s in samples if s.topic in ruleset.topics and s.topic != UNCLASSIFIED]
    if len({s.topic for s in known}) < 2:
        raise ModelError("training needs samples of at least two topics")
    normalizer = ruleset.normalizer
    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([features(s.text, normalizer) for s in known])
    model = LogisticRegression(C=_C, max_iter=1000)
    model.fit(matrix, [s.topic for s in known], sample_weight=[s.weight for s in known])
    topics = [str(t) for t in model.classes_]
    names = vectorizer.get_feature_names_out()
    coef = model.coef_.T  # features x topics
    weights = {
        str(name): [float(x) for x in row]
        for name, row in zip(names, coef, strict=True)
        if max(abs(float(x)) for x in row) >= _MIN_WEIGHT
    }
    return LearnedModel(
        version=version,
        ruleset_version=ruleset.version,
        topics=topics,
        intercepts=[float(b) for b in model.intercept_],
        weights=weights,
        trained_at=trained_at,
        examples=len(known),
        corrections=corrections,
    )


def cache_folder() -> Path | None:
    """Where computed files are remembered: ``$XDG_CACHE_HOME/incident``, else
    ``~/.cache/incident``; None when neither names an absolute folder (a service without a
    home): then nothing is remembered. A relative ``XDG_CACHE_HOME`` is ignored, as the XDG
    specification asks."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "incident"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "incident" if os.path.isabs(home) else None


def rules_model(ruleset: RuleSet, folder: Path | None = None) -> LearnedModel:
    """The model of the rules alone (their examples and phrases, no correction), read from
    ``folder`` (``cache_folder()`` by default) when it was trained for this rule-set version
    before, else trained (about two seconds) and written there for the next time. A folder
    that cannot be written, or a remembered file that is damaged, only costs the training."""
    where = folder or cache_folder()
    path = where / f"rules-model-{ruleset.version}-{_RECIPE}.json" if where else None
    if path is not None:
        try:
            model = LearnedModel.from_data(json.loads(path.read_text(encoding="utf-8")))
            if model.ruleset_version == ruleset.version and model.corrections == 0:
                return model
        except (OSError, ValueError):
            pass  # not there yet, or damaged: trained again below
    data = fit(rule_samples(ruleset), ruleset).to_data()
    if path is not None:
        _remember(path, data)
    # from its plain data, as a remembered one is read: the same weights on every run
    return LearnedModel.from_data(data)


def _remember(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` whole or not at all; a folder that cannot be written is
    left alone (the model is used without being remembered)."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rules-model-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, separators=(",", ":"))
        os.replace(temporary, path)  # whole or not at all, also for two runs at once
        temporary = None
        _forget_old(path.parent, keep=path)
    except OSError:
        pass  # a read-only home
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


_REMEMBERED = 3  # rules models kept in the cache folder: the newest (a rules author's last edits)


def _forget_old(folder: Path, keep: Path) -> None:
    """Remove all but the newest few remembered rules models: every edit of the rules makes a
    new one (a megabyte each)."""
    try:
        found = sorted(
            (p for p in folder.glob("rules-model-*.json") if p != keep),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in found[_REMEMBERED - 1 :]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another run removed it first, or the folder went away: nothing to keep tidy


# --------------------------------------------------------------------------- the database


def corrected_texts(conn: Connection, limit: int = MAX_CORRECTIONS) -> list[tuple[str, str]]:
    """(comment text, topic staff chose) for every corrected incident, its latest correction,
    newest first; comments whose text retention removed are left out."""
    latest = (
        select(func.max(db.topic_corrections.c.id).label("id"))
        .group_by(db.topic_corrections.c.incident_id)
        .subquery()
    )
    rows = conn.execute(
        select(db.comments.c.text, db.topic_corrections.c.to_topic)
        .select_from(
            db.topic_corrections.join(latest, latest.c.id == db.topic_corrections.c.id)
            .join(db.incidents, db.incidents.c.id == db.topic_corrections.c.incident_id)
            .join(db.comments, db.comments.c.id == db.incidents.c.comment_id)
        )
        .order_by(db.topic_corrections.c.id.desc())
        .limit(limit)
    ).all()
    return [(str(r.text), str(r.to_topic)) for r in rows if r.text]


@dataclass(frozen=True, slots=True)
class ModelRow:
    version: int
    created_at: datetime
    ruleset_version: str
    examples: int
    corrections: int
    active: bool
    seconds: float
    features: int


@dataclass(frozen=True, slots=True)
class TrainingResult:
    model: LearnedModel
    seconds: float


def _row(r: Any) -> ModelRow:
    return ModelRow(
        version=int(r.version),
        created_at=r.created_at,
        ruleset_version=str(r.ruleset_version),
        examples=int(r.examples),
        corrections=int(r.corrections),
        active=bool(r.active),
        seconds=float(r.seconds),
        features=int(r.features),
    )


def _last_correction(conn: Connection) -> int | None:
    found = conn.execute(select(func.max(db.topic_corrections.c.id))).scalar()
    return int(found) if found is not None else None


def unchanged_since_active(conn: Connection, ruleset: RuleSet) -> bool:
    """True when the active model was trained with these rules and every correction there is
    now (the scheduled training then has nothing to learn)."""
    t = db.topic_models
    row = conn.execute(
        select(t.c.ruleset_version, t.c.last_correction).where(t.c.active.is_(True)).limit(1)
    ).first()
    return (
        row is not None
        and row.ruleset_version == ruleset.version
        and row.last_correction == _last_correction(conn)
    )


def train_once(
    engine: Engine, ruleset: RuleSet, now: datetime, *, if_changed: bool = False
) -> TrainingResult | None:
    """Train on the rules and every correction, store the model as a new version and make it
    the active one; with ``if_changed``, None (nothing done) when the active model already saw
    these rules and every correction. The fit runs outside any transaction."""
    with engine.connect() as conn:
        if if_changed and unchanged_since_active(conn, ruleset):
            return None
        last = _last_correction(conn)
        pairs = corrected_texts(conn)
    started = time.perf_counter()
    samples = rule_samples(ruleset) + correction_samples(pairs)
    model = fit(samples, ruleset, trained_at=now.isoformat(), corrections=len(pairs))
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        version = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(db.topic_models.c.version), 0))
                ).scalar_one()
            )
            + 1
        )
        model.version = version
        conn.execute(update(db.topic_models).values(active=False))
        conn.execute(
            insert(db.topic_models).values(
                version=version,
                created_at=now,
                ruleset_version=model.ruleset_version,
                examples=model.examples,
                corrections=model.corrections,
                last_correction=last,
                features=len(model.weights),
                seconds=round(seconds, 3),
                active=True,
                data=json.dumps(model.to_data(), ensure_ascii=False, separators=(",", ":")),
            )
        )
    return TrainingResult(model, seconds)


def list_models(conn: Connection) -> list[ModelRow]:
    """Every stored version, newest first (without their weights)."""
    t = db.topic_models
    rows = conn.execute(
        select(
            t.c.version,
            t.c.created_at,
            t.c.ruleset_version,
            t.c.examples,
            t.c.corrections,
            t.c.active,
            t.c.seconds,
            t.c.features,
        ).order_by(t.c.version.desc())
    ).all()
    return [_row(r) for r in rows]


def activate(conn: Connection, version: int | None) -> bool:
    """Make ``version`` the active model (None: none, the rules alone). False when there is
    no such version. Nothing is deleted, so any version can be made active again."""
    t = db.topic_models
    if (
        version is not None
        and conn.execute(select(t.c.version).where(t.c.version == version)).first() is None
    ):
        return False
    conn.execute(update(t).values(active=False))
    if version is not None:
        conn.execute(update(t).where(t.c.version == version).values(active=True))
    return True


def active_model(conn: Connection) -> LearnedModel | None:
    """The active model, or None (none trained, all switched off, or unreadable data)."""
    t = db.topic_models
    data = conn.execute(select(t.c.data).where(t.c.active.is_(True)).limit(1)).scalar()
    if data is None:
        return None
    try:
        return LearnedModel.from_data(json.loads(data))
    except (ModelError, ValueError):
        return None


def active_version(conn: Connection) -> int | None:
    """The active model's version (cheap: no weights read)."""
    t = db.topic_models
    found = conn.execute(select(t.c.version).where(t.c.active.is_(True)).limit(1)).scalar()
    return int(found) if found is not None else None


class ActiveModel:
    """The active model as several processes share it.

    ``refresh()`` looks the active version up (one cheap query; the weights are read only when
    it changed), so a model trained or rolled back elsewhere is used from the next refresh:
    the worker refreshes every minute, a command once before it classifies. Calling the
    object gives the model held, without any I/O: classification runs inside ingest's
    transaction, where a second connection could wait for the first one's lock. A database
    that fails keeps the model held so far: classification never stops for the model's sake.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._model: LearnedModel | None = None

    def __call__(self) -> LearnedModel | None:
        return self._model

    def refresh(self) -> bool:
        """Look for another active version; True when the model held changed."""
        try:
            with self.engine.connect() as conn:
                version = active_version(conn)
                held = self._model.version if self._model is not None else None
                if version == held:
                    return False
                self._model = active_model(conn) if version is not None else None
                return True
        except SQLAlchemyError:
            return False
