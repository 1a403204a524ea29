"""The composition root: loads the Config (with the platforms registry) and turns it into
engines, sources and ingestion policies."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from incident import alerts, learned, metrics, sla
from incident import config as configuration
from incident.config import Config, ConfigError, SourceConfig, WorkerConfig
from incident.db import make_engine
from incident.inbox import Classification, Classifier, DeadlinePolicy, DueTimes, ResponseFigures
from incident.learned import LearnedModel
from incident.models import Comment
from incident.notify import Notifier
from incident.pipeline import Ingestion
from incident.rules import RulesError, RuleSet, load_ruleset
from incident.sources.base import Source
from incident.sources.registry import PLATFORMS
from incident.training import ActiveModel


def working_hours_policy(settings: sla.SlaSettings) -> DeadlinePolicy:
    """Deadlines in working hours under the deployment's calendar and per-topic policies: the
    clock start, due and warning moments of ``sla.deadline``, in UTC."""

    def policy(comment: Comment, seen_at: datetime, topic: str | None, urgent: bool) -> DueTimes:
        d = sla.deadline(
            comment.created_at,
            seen_at,
            topic,
            comment.platform.value,
            settings,
            community=comment.community,
            urgent=urgent,
        )
        return DueTimes(d.started_at.astimezone(UTC), d.due.astimezone(UTC), d.warn.astimezone(UTC))

    return policy


def open_engine(config: Config) -> Engine:
    """The configured database's engine (SQLite pragmas or the PostgreSQL pool set up)."""
    return make_engine(config.database_url)


def rule_classifier(
    ruleset: RuleSet, model: Callable[[], LearnedModel | None] | None = None
) -> Classifier:
    """Classify with the rule set and, when ``model`` gives one, the learned model combined
    with it (``learned.combine``); the verdict (with its explanation) is stored as JSON."""

    def run(comment: Comment, history: Sequence[str]) -> Classification:
        with metrics.CLASSIFICATION_SECONDS.time():
            current = model() if model is not None else None
            # the rules and the model in one pass (the verdict of ``learned.combine``)
            verdict = learned.classify_with_model(comment.text, ruleset, current, history=history)
        return Classification(verdict.topic, verdict.to_json(), ruleset.version)

    return run


def load_rules(config: Config) -> RuleSet:
    """The configured rule set; a rule file that does not load is a configuration error."""
    try:
        return load_ruleset(config.rules_dir)
    except RulesError as exc:
        problems = "; ".join(exc.problems[:5])
        raise ConfigError(
            f"the rules in {config.rules_dir} ({config.data_origin('rules')}) do not load: "
            f"{problems} (see `incident rules check`)"
        ) from None


def answer_figures(settings: sla.SlaSettings) -> ResponseFigures:
    """What is stored with an incident's first answer: its times in calendar and working hours."""

    def figures(
        opened_at: datetime, answered_at: datetime, due_at: datetime | None
    ) -> dict[str, Any]:
        return sla.response_figures(opened_at, answered_at, due_at, settings)

    return figures


def build_ingestion(
    config: Config, ruleset: RuleSet | None = None, model: ActiveModel | None = None
) -> Ingestion:
    """What ingest is handed: the deadline policy, the classifier (the rules, with the
    database's active learned model when ``model`` is given) and the answer figures."""
    return Ingestion(
        deadline=working_hours_policy(config.sla),
        classify=rule_classifier(ruleset or load_rules(config), model),
        figures=answer_figures(config.sla),
    )


def build_train_step(
    config: Config, config_path: str | Path, *, memory_mb: int | None = None
) -> Callable[[], str]:
    """The worker's scheduled retraining: ``incident model train --if-changed`` as a process
    of its own, so the worker never loads the training libraries, stopped after
    ``[model] train_timeout_seconds`` and refused more than ``train_memory_mb`` of memory
    (``memory_mb`` overrides it).
    Returns what the command printed; raises RuntimeError when it failed."""
    limit = (memory_mb or config.model.train_memory_mb) * 1024 * 1024
    command = [
        sys.executable,
        "-m",
        "incident",
        "--config",
        str(config_path),
        "model",
        "train",
        "--if-changed",
    ]

    def bounded() -> None:  # runs in the child before it starts: its memory limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def step() -> str:
        try:
            done = subprocess.run(  # noqa: S603 - our own command, no shell
                command,
                capture_output=True,
                text=True,
                timeout=config.model.train_timeout_seconds,
                preexec_fn=bounded,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"training took longer than {config.model.train_timeout_seconds:g} s"
            ) from None
        if done.returncode != 0:
            raise RuntimeError((done.stderr or done.stdout).strip()[-500:] or "training failed")
        return done.stdout.strip()

    return step


def build_warn_step(
    engine: Engine, config: Config, notifiers: Sequence[Notifier], labels: Mapping[str, str]
) -> Callable[[datetime], int]:
    """The SLA warnings step of the worker, bound to this deployment's settings; the same
    run tells the supervisors about mass issues (``[notify] mass_issue_threshold``)."""

    def step(now: datetime) -> int:
        marked = alerts.warn_breaches_once(
            engine,
            config.sla,
            notifiers,
            now,
            base_url=config.notify.base_url,
            warn=config.notify.warn,
            breach=config.notify.breach,
            labels=labels,
        )
        return marked + alerts.mass_issues_once(
            engine,
            notifiers,
            now,
            config.notify.mass_issue_threshold,
            base_url=config.notify.base_url,
            labels=labels,
        )

    return step


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> Config:
    """Read and validate ``path`` with every registered platform's ``[[sources]]`` parser.

    See ``incident.config.load_config``; raises ConfigError with a message for a human.
    """
    return configuration.load_config(
        path, environ, platforms=PLATFORMS, require_secrets=require_secrets
    )


SourceBuilder = Callable[[SourceConfig, WorkerConfig], Source]


def build_sources(
    config: Config, only: str | None = None, *, builders: Mapping[str, SourceBuilder] | None = None
) -> list[Source]:
    """The configured sources (only the one named ``only``, if given; else every enabled one),
    each built by its platform's builder, or by ``builders[platform]`` where given (the demo
    builds its Telegram source on an in-memory gateway that a config file cannot name)."""
    chosen = [config.source(only)] if only else list(config.enabled_sources())
    chosen_builders = builders or {}
    return [
        chosen_builders.get(cfg.platform, PLATFORMS[cfg.platform].build)(cfg, config.worker)
        for cfg in chosen
    ]


def known_secrets(config: Config) -> list[str]:
    """Every secret value of the configured sources, for redaction in logs."""
    return [s.value for src in config.sources for s in src.secrets() if s.value]
