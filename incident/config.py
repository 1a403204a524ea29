"""config.toml -> frozen, validated objects.

Parsed once at the entry point. Unknown keys, wrong types and missing secrets are errors that
name the file, the key and what was expected. Secrets never live in the file itself: a source
names an environment variable (``community_token_env``), whose value is read from the
environment, from the file named by ``<VAR>_FILE``, or from ``$CREDENTIALS_DIRECTORY/<VAR>``
(systemd's LoadCredential=); or it names a file (``community_token_file``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from incident.notify import NotifySettings, notify_settings_from_mapping
from incident.sla import SlaSettings, sla_settings_from_mapping

DEFAULT_CONFIG_NAME = "config.toml"
VK_API_URL = "https://api.vk.ru/"
GOSUSLUGI_URL = "https://www.gosuslugi.ru/"

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration problem a human must fix. The message says where and what."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value that never shows itself in a repr, a log line or a traceback."""

    value: str = field(repr=False)
    origin: str = ""

    def __repr__(self) -> str:
        return f"Secret(<from {self.origin}>)" if self.origin else "Secret(***)"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class VkSourceConfig:
    name: str
    group_id: int
    community_token: Secret
    sweep_token: Secret
    enabled: bool = True
    posts_per_sweep: int = 20
    longpoll: bool = True
    longpoll_wait: int = 25
    api_url: str = VK_API_URL
    display_name: str = ""  # {community_name} in reply templates
    private_link: str = ""  # {private_link}: where citizens write privately (VK: vk.me/club<id>)

    @property
    def platform(self) -> str:
        return "vk"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    sweep_interval: float = 600.0  # seconds between scheduled sweeps of a source
    outbox_interval: float = 2.0  # seconds between outbox checks when idle
    reply_lease: float = 120.0  # seconds a claimed reply stays claimed
    reply_attempts: int = 8  # transient failures before a reply is marked failed
    retry_attempts: int = 5  # per API call, inside a source
    retry_initial: float = 1.0
    retry_maximum: float = 60.0
    throttle: bool = True  # keep the platform client's own request-rate throttling


@dataclass(frozen=True, slots=True)
class ReplyValues:
    """Deployment-wide values for reply templates' placeholders."""

    hotline: str = ""  # {hotline}: the committee's phone line
    gosuslugi_link: str = GOSUSLUGI_URL  # {gosuslugi_link}: formal appeals


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    database_url: str
    worker: WorkerConfig
    sources: tuple[VkSourceConfig, ...]
    log_level: str = "info"
    log_format: str = "auto"
    rules_dir: Path = Path("rules")
    replies_dir: Path = Path("replies")
    sla: SlaSettings = field(default_factory=SlaSettings)
    reply_values: ReplyValues = field(default_factory=ReplyValues)
    notify: NotifySettings = field(default_factory=NotifySettings)

    def enabled_sources(self) -> tuple[VkSourceConfig, ...]:
        return tuple(s for s in self.sources if s.enabled)

    def source(self, name: str) -> VkSourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"{self.path}: no source named {name!r} (configured: {known})")


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("INCIDENT_CONFIG") or DEFAULT_CONFIG_NAME)


class _Table:
    """Reads one TOML table strictly: typed lookups, then ``done()`` rejects leftovers."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a table, got {_describe(data)}")
        self._data = dict(data)
        self.where = where

    def _take(self, key: str, kind: type[T], default: T | None, expected: str) -> T:
        if key not in self._data:
            if default is None:
                raise ConfigError(f"{self.where}: missing key {key!r} ({expected})")
            return default
        value = self._data.pop(key)
        # bool is an int in Python; a TOML `true` must not pass as a number.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{self.where}.{key}: expected {expected}, got {_describe(value)}")
        return value

    def text(self, key: str, default: str | None = None, *, pattern: str | None = None) -> str:
        value = self._take(key, str, default, "a string")
        if pattern and not re.fullmatch(pattern, value):
            raise ConfigError(f"{self.where}.{key}: {value!r} does not match {pattern}")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        return self._take(key, bool, default, "true or false")

    def integer(
        self, key: str, default: int | None = None, *, low: int = 0, high: int = 10**9
    ) -> int:
        value = self._take(key, int, default, "an integer")
        if not low <= value <= high:
            raise ConfigError(f"{self.where}.{key}: {value} is out of range {low}..{high}")
        return value

    def number(self, key: str, default: float | None = None, *, low: float = 0.0) -> float:
        if (
            key in self._data
            and isinstance(self._data[key], int)
            and not isinstance(self._data[key], bool)
        ):
            self._data[key] = float(self._data[key])
        value = self._take(key, float, default, "a number")
        if value < low:
            raise ConfigError(f"{self.where}.{key}: {value} must be at least {low}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in options:
            raise ConfigError(
                f"{self.where}.{key}: {value!r} is not one of {', '.join(map(repr, options))}"
            )
        return value

    def table(self, key: str) -> _Table:
        value = self._data.pop(key, {})
        return _Table(value, f"{self.where}[{key}]" if self.where else f"[{key}]")

    def tables(self, key: str) -> Iterator[_Table]:
        value = self._data.pop(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.where}[[{key}]]: expected an array of tables ([[{key}]])")
        for i, item in enumerate(value):
            yield _Table(item, f"{self.where}[[{key}]] #{i + 1}")

    def done(self) -> None:
        if self._data:
            keys = ", ".join(sorted(self._data))
            raise ConfigError(f"{self.where}: unknown key(s): {keys}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> Config:
    """Read and validate ``path``. Raises ConfigError with a message for a human.

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
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path, env, require_secrets=require_secrets)


def parse_config(
    data: Mapping[str, Any],
    path: Path,
    environ: Mapping[str, str],
    *,
    require_secrets: bool = True,
) -> Config:
    base = path.parent
    top = _Table(data, "")
    top.where = str(path)

    db = top.table("database")
    db.where = f"{path} [database]"
    database_url = _database_url(db.text("url", "sqlite:///incident.sqlite3"), base)
    db.done()

    log = top.table("log")
    log.where = f"{path} [log]"
    log_level = log.choice("level", ("debug", "info", "warning", "error"), "info")
    log_format = log.choice("format", ("auto", "json", "console"), "auto")
    log.done()

    w = top.table("worker")
    w.where = f"{path} [worker]"
    worker = WorkerConfig(
        sweep_interval=w.number("sweep_interval_seconds", 600.0, low=1.0),
        outbox_interval=w.number("outbox_interval_seconds", 2.0, low=0.05),
        reply_lease=w.number("reply_lease_seconds", 120.0, low=1.0),
        reply_attempts=w.integer("reply_attempts", 8, low=1, high=1000),
        retry_attempts=w.integer("retry_attempts", 5, low=1, high=100),
        retry_initial=w.number("retry_initial_seconds", 1.0),
        retry_maximum=w.number("retry_maximum_seconds", 60.0),
        throttle=w.flag("throttle", True),
    )
    w.done()

    paths = top.table("paths")
    paths.where = f"{path} [paths]"
    rules_dir = _data_dir(paths.text("rules", ""), "rules", base)
    replies_dir = _data_dir(paths.text("replies", ""), "replies", base)
    paths.done()

    rv = top.table("replies")
    rv.where = f"{path} [replies]"
    reply_values = ReplyValues(
        hotline=rv.text("hotline", ""),
        gosuslugi_link=rv.text("gosuslugi_link", GOSUSLUGI_URL, pattern=r"https?://\S+"),
    )
    rv.done()

    sources: list[VkSourceConfig] = []
    for t in top.tables("sources"):
        t.where = f"{path} {t.where.lstrip()}"
        sources.append(_vk_source(t, base, environ, require_secrets))
    sla_data = top._data.pop("sla", {})
    try:
        sla = sla_settings_from_mapping(sla_data, f"{path} [sla]")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    notify_data = top._data.pop("notify", {})
    try:
        notify = notify_settings_from_mapping(
            notify_data, f"{path} [notify]", environ, require_secrets=require_secrets
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: source names must be unique; repeated: {', '.join(dupes)}")
    top.done()
    return Config(
        path=path,
        database_url=database_url,
        worker=worker,
        sources=tuple(sources),
        log_level=log_level,
        log_format=log_format,
        rules_dir=rules_dir,
        replies_dir=replies_dir,
        sla=sla,
        reply_values=reply_values,
        notify=notify,
    )


# The rules and reply templates shipped with this checkout of incident.
SHIPPED_DATA = Path(__file__).resolve().parent.parent


def _data_dir(configured: str, name: str, base: Path) -> Path:
    """A configured folder (relative to the config file), else ``<config dir>/<name>`` when it
    exists, else the folder shipped beside the package."""
    if configured:
        return base / configured
    return base / name if (base / name).is_dir() else SHIPPED_DATA / name


def _database_url(url: str, base: Path) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest and rest != ":memory:":
            return "sqlite:///" + str((base / rest).resolve())
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"database url {url!r}: expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _vk_source(
    t: _Table, base: Path, environ: Mapping[str, str], require_secrets: bool
) -> VkSourceConfig:
    name = t.text("name", pattern=r"[a-z0-9][a-z0-9_-]{0,62}")
    t.where = f"{t.where} ({name})"
    t.choice("platform", ("vk",), "vk")
    enabled = t.flag("enabled", True)
    group_id = t.integer("group_id", low=1, high=2**53)
    env_prefix = "INCIDENT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    community = _secret(t, "community_token", f"{env_prefix}_COMMUNITY_TOKEN", base, environ)
    sweep = _secret(t, "sweep_token", f"{env_prefix}_SWEEP_TOKEN", base, environ)
    cfg = VkSourceConfig(
        name=name,
        group_id=group_id,
        community_token=community or Secret(""),
        sweep_token=sweep or Secret(""),
        enabled=enabled,
        posts_per_sweep=t.integer("posts_per_sweep", 20, low=1, high=100),
        longpoll=t.flag("longpoll", True),
        longpoll_wait=t.integer("longpoll_wait_seconds", 25, low=1, high=90),
        api_url=t.text("api_url", VK_API_URL, pattern=r"https?://.+/"),
        display_name=t.text("display_name", ""),
        private_link=t.text(
            "private_link", f"https://vk.me/club{group_id}", pattern=r"https?://\S+"
        ),
    )
    t.done()
    if enabled and require_secrets:
        for key, secret in (("community_token", community), ("sweep_token", sweep)):
            if secret is None:
                raise ConfigError(
                    f"{t.where}: no {key}: set the environment variable named by {key}_env "
                    f"(default {env_prefix}_{key.upper()}), or {key}_env + '_FILE' pointing at a "
                    f"file, or {key}_file; see README 'Secrets'"
                )
    return cfg


def _secret(
    t: _Table, key: str, default_env: str, base: Path, environ: Mapping[str, str]
) -> Secret | None:
    if f"{key}" in t._data:
        t._data.pop(key)
        raise ConfigError(
            f"{t.where}.{key}: secrets are not written in the config file; use {key}_env "
            f"(an environment variable's name) or {key}_file (a path)"
        )
    env_name = t.text(f"{key}_env", default_env, pattern=r"[A-Za-z_][A-Za-z0-9_]*")
    file_name = t._data.get(f"{key}_file")
    if file_name is not None:
        path_text = t.text(f"{key}_file")
        return _read_secret_file(_expand(path_text, environ, base), f"{t.where}.{key}_file")
    if environ.get(env_name):
        return Secret(environ[env_name], f"${env_name}")
    if environ.get(f"{env_name}_FILE"):
        path = _expand(environ[f"{env_name}_FILE"], environ, base)
        return _read_secret_file(path, f"${env_name}_FILE")
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / env_name).is_file():
        return _read_secret_file(Path(cred_dir) / env_name, "systemd credential")
    return None


def _expand(text: str, environ: Mapping[str, str], base: Path) -> Path:
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: environ.get(m.group(1), m.group(0)), text)
    p = Path(expanded)
    return p if p.is_absolute() else base / p


def _read_secret_file(path: Path, where: str) -> Secret:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{where}: secret file {path} is empty")
    return Secret(value, str(path))
