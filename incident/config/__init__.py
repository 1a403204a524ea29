"""config.toml -> frozen, validated objects.

Parsed once at the entry point. Unknown keys, wrong types and missing secrets are errors that
name the file, the key and what was expected (``incident.config.reader`` is the one strict reader
every table goes through). Secrets never live in the file itself (``incident.config.secrets``).

The ``[[sources]]`` tables are read by their platform's parser, looked up in the ``platforms``
mapping the caller passes in (``incident.sources.registry.PLATFORMS``, supplied by
``incident.wiring.load_config``): configuration does not import the sources.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from incident.config.notify import NotifySettings, notify_settings_from_mapping
from incident.config.reader import ConfigError, Table, syntax_error
from incident.config.secrets import Secret
from incident.config.sla import sla_settings_from_mapping
from incident.models import Platform
from incident.sla import SlaSettings

__all__ = [
    "Config",
    "ConfigError",
    "ModelConfig",
    "PlatformConfig",
    "ReplyValues",
    "Secret",
    "SourceConfig",
    "SourceContext",
    "SurveyConfig",
    "WorkerConfig",
    "data_folder",
    "default_config_path",
    "load_config",
    "origin_text",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "config.toml"
GOSUSLUGI_URL = "https://www.gosuslugi.ru/"
# A [[sources]] table without `platform` (every config written before there was a choice).
DEFAULT_PLATFORM = Platform.VK
SOURCE_NAME = r"[a-z0-9][a-z0-9_-]{0,62}"


class SourceConfig(Protocol):
    """What every platform's source settings offer; the rest is the platform's own."""

    @property
    def name(self) -> str:
        """The source's name, unique in a deployment (e.g. ``vk-main``)."""
        ...

    @property
    def platform(self) -> str:
        """The platform's name, a key of the platforms mapping."""
        ...

    @property
    def enabled(self) -> bool: ...

    @property
    def community(self) -> str:
        """The community's id on its platform, as incidents store it."""
        ...

    @property
    def display_name(self) -> str:
        """``{community_name}`` in reply templates ("" when not set)."""
        ...

    @property
    def private_link(self) -> str:
        """``{private_link}``: where citizens write privately ("" when not set)."""
        ...

    @property
    def listens(self) -> bool:
        """Whether the worker keeps a live listener (a push channel) for this source."""
        ...

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret of this source (for redaction in logs)."""
        ...

    def summary(self) -> str:
        """One line for ``incident check-config``, without secret values."""
        ...


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a platform's ``[[sources]]`` parser gets besides its table."""

    name: str  # the source's name, already read and checked
    base: Path  # the config file's folder: relative paths are relative to it
    environ: Mapping[str, str]
    require_secrets: bool


class PlatformConfig(Protocol):
    """The part of a platform's registry entry configuration uses: its ``[[sources]]`` parser.

    The parser reads the platform's keys from the table (``name`` and ``platform`` are read
    already; ``done()`` is called after it) and returns the source's settings.
    """

    @property
    def read_config(self) -> Callable[[Table, SourceContext], SourceConfig]: ...


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """The worker's timing and retry settings (``[worker]``)."""

    sweep_interval: float = 600.0  # seconds between scheduled sweeps of a source
    full_sweep_interval: float = 3600.0  # seconds between complete re-reads of a source
    outbox_interval: float = 2.0  # seconds between outbox checks when idle
    reply_lease: float = 120.0  # seconds a claimed reply stays claimed
    reply_senders: int = 3  # replies posted at once (each sender claims its own)
    reply_attempts: int = 8  # transient failures before a reply is marked failed
    retry_attempts: int = 5  # per API call, inside a source
    retry_initial: float = 1.0
    retry_maximum: float = 60.0
    throttle: bool = True  # keep the platform client's own request-rate throttling
    metrics_port: int = 0  # Prometheus metrics on this port (0: none)
    metrics_address: str = "127.0.0.1"  # ... and this address


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The learned model's retraining (``[model]``): how often the worker retrains it (0: never;
    ``incident model train`` still does) and the bounds of one training run, which runs as a
    command of its own so that the worker never loads the training libraries."""

    train_interval_hours: float = 24.0
    train_timeout_seconds: float = 900.0
    train_memory_mb: int = 2048


@dataclass(frozen=True, slots=True)
class ReplyValues:
    """Deployment-wide values for reply templates' placeholders."""

    hotline: str = ""  # {hotline}: the committee's phone line
    gosuslugi_link: str = GOSUSLUGI_URL  # {gosuslugi_link}: formal appeals


@dataclass(frozen=True, slots=True)
class SurveyConfig:
    """The ``[survey]`` table: the satisfaction survey's form and its public links."""

    # the survey definition file (surveys/satisfaction.toml shipped beside the package)
    definition: Path = Path("surveys/satisfaction.toml")
    # the address citizens reach the web app at, for the survey's and the rating links;
    # empty: [notify] base_url
    public_url: str = ""
    # the global switch of the «оцените ответ» link in replies whose template asks for it
    rating_links: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """The whole deployment's configuration, as read from one file."""

    path: Path
    database_url: str
    worker: WorkerConfig
    sources: tuple[SourceConfig, ...]
    log_level: str = "info"
    log_format: str = "auto"
    rules_dir: Path = Path("rules")
    replies_dir: Path = Path("replies")
    # what chose each folder: "setting" ([paths] in the file), "beside" (the folder next to the
    # file) or "shipped" (the data shipped with incident); see ``data_origin``
    rules_from: str = "setting"
    replies_from: str = "setting"
    sla: SlaSettings = field(default_factory=SlaSettings)
    reply_values: ReplyValues = field(default_factory=ReplyValues)
    notify: NotifySettings = field(default_factory=NotifySettings)
    # source name -> its own seconds between sweeps (``sweep_interval_seconds`` in its table)
    sweep_intervals: Mapping[str, float] = field(default_factory=dict)
    # [retention] personal_data_months: texts and names of finished incidents older than this
    # are removed (0: kept for ever); the statistics are kept
    retention_months: int = 0
    survey: SurveyConfig = field(default_factory=SurveyConfig)

    @property
    def public_url(self) -> str | None:
        """Where citizens reach the web app: ``[survey] public_url``, else ``[notify]
        base_url``; None when neither is set (links are then paths)."""
        return self.survey.public_url or self.notify.base_url or None

    model: ModelConfig = field(default_factory=ModelConfig)

    def sweep_interval(self, name: str) -> float:
        """Seconds between scheduled sweeps of source ``name``: its own setting, else
        ``[worker] sweep_interval_seconds``."""
        return self.sweep_intervals.get(name, self.worker.sweep_interval)

    def data_origin(self, kind: str) -> str:
        """What chose the ``rules`` or ``replies`` folder, for messages naming it."""
        chosen = self.rules_from if kind == "rules" else self.replies_from
        return origin_text(chosen, kind, self.path)

    def enabled_sources(self) -> tuple[SourceConfig, ...]:
        """The sources not switched off with ``enabled = false``."""
        return tuple(s for s in self.sources if s.enabled)

    def source(self, name: str) -> SourceConfig:
        """The source named ``name``; ConfigError listing the configured ones if none is."""
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"{self.path}: no source named {name!r} (configured: {known})")


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$INCIDENT_CONFIG``, else ``./config.toml``."""
    env = os.environ if environ is None else environ
    return Path(env.get("INCIDENT_CONFIG") or DEFAULT_CONFIG_NAME)


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    platforms: Mapping[str, PlatformConfig],
    require_secrets: bool = True,
) -> Config:
    """Read and validate ``path``. Raises ConfigError with a message for a human.

    ``platforms``: platform name -> its ``[[sources]]`` parser (the sources registry).
    ``require_secrets=False`` is for processes that never call a platform (the web app, the
    queue and status commands): a missing token is then not an error, and is left empty.
    """
    env = os.environ if environ is None else environ
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (create one with `incident init`, or pass --config)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start + 1} cannot be read); save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(syntax_error(path, text, str(exc))) from None
    return parse_config(data, path, env, platforms=platforms, require_secrets=require_secrets)


_TOP_KEYS = (
    "database",
    "log",
    "worker",
    "paths",
    "replies",
    "sources",
    "sla",
    "notify",
    "retention",
    "survey",
    "model",
)
_WORKER_KEYS = (
    "sweep_interval_seconds",
    "full_sweep_interval_seconds",
    "outbox_interval_seconds",
    "reply_lease_seconds",
    "reply_senders",
    "reply_attempts",
    "retry_attempts",
    "retry_initial_seconds",
    "retry_maximum_seconds",
    "throttle",
    "metrics_port",
    "metrics_address",
)


def parse_config(
    data: Mapping[str, Any],
    path: Path,
    environ: Mapping[str, str],
    *,
    platforms: Mapping[str, PlatformConfig],
    require_secrets: bool = True,
) -> Config:
    """Validate parsed TOML ``data`` read from ``path`` (see ``load_config``). An error names
    the file once, first, then the table and key: ``config.toml: [sla].target_hours: ...``."""
    try:
        return _parse(data, path, environ, platforms=platforms, require_secrets=require_secrets)
    except ConfigError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            raise  # a table that still names the file itself: named once already
        raise ConfigError(f"{path}: {message}") from None


def _parse(
    data: Mapping[str, Any],
    path: Path,
    environ: Mapping[str, str],
    *,
    platforms: Mapping[str, PlatformConfig],
    require_secrets: bool,
) -> Config:
    base = path.parent
    top = Table(data, "the top level", _TOP_KEYS)

    db = top.table("database", "[database]", ("url",))
    database_url = _database_url(db.text("url", "sqlite:///incident.sqlite3"), base)

    log = top.table("log", "[log]", ("level", "format"))
    log_level = log.choice("level", ("debug", "info", "warning", "error"), "info")
    log_format = log.choice("format", ("auto", "json", "console"), "auto")

    w = top.table("worker", "[worker]", _WORKER_KEYS)
    worker = WorkerConfig(
        sweep_interval=w.number("sweep_interval_seconds", 600.0, low=1.0),
        full_sweep_interval=w.number("full_sweep_interval_seconds", 3600.0, low=60.0),
        outbox_interval=w.number("outbox_interval_seconds", 2.0, low=0.05),
        reply_lease=w.number("reply_lease_seconds", 120.0, low=1.0),
        reply_senders=w.integer("reply_senders", 3, low=1, high=16),
        reply_attempts=w.integer("reply_attempts", 8, low=1, high=1000),
        retry_attempts=w.integer("retry_attempts", 5, low=1, high=100),
        retry_initial=w.number("retry_initial_seconds", 1.0),
        retry_maximum=w.number("retry_maximum_seconds", 60.0),
        throttle=w.flag("throttle", True),
        metrics_port=w.integer("metrics_port", 0, low=0, high=65535),
        metrics_address=w.text("metrics_address", "127.0.0.1"),
    )

    paths = top.table("paths", "[paths]", ("rules", "replies"))
    rules_dir, rules_from = data_folder(paths.text("rules", ""), "rules", base)
    replies_dir, replies_from = data_folder(paths.text("replies", ""), "replies", base)

    rv = top.table("replies", "[replies]", ("hotline", "gosuslugi_link"))
    reply_values = ReplyValues(
        hotline=rv.text("hotline", ""),
        gosuslugi_link=rv.text("gosuslugi_link", GOSUSLUGI_URL, pattern=r"https?://\S+"),
    )

    sweep_intervals: dict[str, float] = {}
    sources = tuple(
        _source(t, platforms, SourceContext("", base, environ, require_secrets), sweep_intervals)
        for t in top.tables("sources", "[[sources]]", "[[sources]] #{n}")
    )
    sla = sla_settings_from_mapping(top.raw("sla", {}), "[sla]")
    notify = notify_settings_from_mapping(
        top.raw("notify", {}), "[notify]", environ, require_secrets=require_secrets
    )
    retention = top.table("retention", "[retention]", ("personal_data_months",))
    retention_months = retention.integer("personal_data_months", 0, low=0, high=1200)
    sv = top.table("survey", "[survey]", ("definition", "public_url", "rating_links"))
    survey = SurveyConfig(
        definition=_data_file(sv.text("definition", ""), "surveys/satisfaction.toml", base),
        public_url=sv.text("public_url", "", pattern=r"(https?://[^\s/]+(/\S*)?)?").rstrip("/"),
        rating_links=sv.flag("rating_links", False),
    )
    m = top.table(
        "model",
        "[model]",
        ("train_interval_hours", "train_timeout_seconds", "train_memory_mb"),
    )
    model = ModelConfig(
        train_interval_hours=m.number("train_interval_hours", 24.0, low=0.0),
        train_timeout_seconds=m.number("train_timeout_seconds", 900.0, low=10.0),
        train_memory_mb=m.integer("train_memory_mb", 2048, low=256, high=65536),
    )
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"source names must be unique; repeated: {', '.join(dupes)}")
    return Config(
        path=path,
        database_url=database_url,
        worker=worker,
        sources=sources,
        sweep_intervals=sweep_intervals,
        log_level=log_level,
        log_format=log_format,
        rules_dir=rules_dir,
        replies_dir=replies_dir,
        rules_from=rules_from,
        replies_from=replies_from,
        sla=sla,
        reply_values=reply_values,
        notify=notify,
        retention_months=retention_months,
        survey=survey,
        model=model,
    )


def _source(
    t: Table,
    platforms: Mapping[str, PlatformConfig],
    context: SourceContext,
    sweep_intervals: dict[str, float],
) -> SourceConfig:
    """One ``[[sources]]`` table, read by its platform's parser. The keys every platform has
    (``name``, ``platform``, ``sweep_interval_seconds``) are read here."""
    name = t.text("name", pattern=SOURCE_NAME)
    t.where = f"{t.where} ({name})"
    platform = t.text("platform", DEFAULT_PLATFORM.value)
    if t.has("sweep_interval_seconds"):
        sweep_intervals[name] = t.number("sweep_interval_seconds", low=1.0)
    support = platforms.get(platform)
    if support is None:
        known = ", ".join(sorted(platforms)) or "none"
        raise ConfigError(f"{t.path('platform')}: unknown platform {platform!r} (known: {known})")
    source = support.read_config(
        t, SourceContext(name, context.base, context.environ, context.require_secrets)
    )
    t.done()
    return source


# The rules and reply templates shipped with this checkout of incident.
SHIPPED_DATA = Path(__file__).resolve().parent.parent.parent


def data_folder(configured: str, name: str, base: Path) -> tuple[Path, str]:
    """The folder ``name`` (rules, replies) and what chose it: a configured one (relative to
    ``base``, the config file's folder): "setting"; else ``<base>/<name>`` when it exists:
    "beside"; else the folder shipped with incident: "shipped"."""
    if configured:
        return (base / configured).absolute(), "setting"
    if (base / name).is_dir():
        return (base / name).absolute(), "beside"
    return SHIPPED_DATA / name, "shipped"


def origin_text(chosen: str, kind: str, where: Path) -> str:
    """``data_folder``'s choice in words: ``where`` is the config file (or folder) it used."""
    if chosen == "setting":
        return f"[paths] {kind} in {where}"
    if chosen == "beside":
        return f"the {kind} folder beside {where}; [paths] {kind} is not set"
    return f"the {kind} shipped with incident; [paths] {kind} is not set in {where}"


def _data_file(configured: str, name: str, base: Path) -> Path:
    """A configured file (relative to the config file), else ``<config dir>/<name>`` when it
    exists, else the file shipped beside the package."""
    if configured:
        return base / configured
    return base / name if (base / name).is_file() else SHIPPED_DATA / name


def _database_url(url: str, base: Path) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest and rest != ":memory:":
            return "sqlite:///" + str((base / rest).resolve())
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"[database].url: {url!r}: expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url
