"""Secrets named by the configuration: tokens and passwords never live in ``config.toml``.

A setting names an environment variable (``<key>_env``), whose value is read from the environment,
from the file named by ``<VAR>_FILE``, or from ``$CREDENTIALS_DIRECTORY/<VAR>`` (systemd's
LoadCredential=); or it names a file (``<key>_file``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from incident.config.reader import ConfigError, Table

ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value that never shows itself in a repr, a log line or a traceback."""

    value: str = field(repr=False)
    origin: str = ""

    def __repr__(self) -> str:
        return f"Secret(<from {self.origin}>)" if self.origin else "Secret(***)"

    def __str__(self) -> str:
        return "***"


def secret_setting(
    t: Table, key: str, default_env: str, base: Path, environ: Mapping[str, str]
) -> Secret | None:
    """The secret ``key`` of table ``t``: from ``<key>_file``, else from the variable named by
    ``<key>_env`` (default ``default_env``); None when nowhere to be found. ``<key>`` itself in
    the file is an error: secrets are not written there."""
    if t.has(key):
        t.raw(key)
        raise ConfigError(
            f"{t.path(key)}: secrets are not written in the config file; use {key}_env "
            f"(an environment variable's name) or {key}_file (a path)"
        )
    env_name = t.text(f"{key}_env", default_env, pattern=ENV_NAME)
    path_text = t.optional_text(f"{key}_file")
    if path_text is not None:
        return read_secret_file(expand(path_text, environ, base), t.path(f"{key}_file"))
    if environ.get(env_name):
        return Secret(environ[env_name], f"${env_name}")
    if environ.get(f"{env_name}_FILE"):
        path = expand(environ[f"{env_name}_FILE"], environ, base)
        return read_secret_file(path, f"${env_name}_FILE")
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / env_name).is_file():
        return read_secret_file(Path(cred_dir) / env_name, "systemd credential")
    return None


def expand(text: str, environ: Mapping[str, str], base: Path) -> Path:
    """``${VAR}`` expanded from ``environ``; a relative path is relative to ``base``."""
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: environ.get(m.group(1), m.group(0)), text)
    p = Path(expanded)
    return p if p.is_absolute() else base / p


def read_secret_file(path: Path, where: str) -> Secret:
    """The stripped content of ``path``; unreadable or empty is an error naming ``where``."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{where}: secret file {path} is empty")
    return Secret(value, str(path))


def lenient_secret(env_name: str, environ: Mapping[str, str]) -> str | None:
    """The value of ``$env_name``, else of the first readable, non-empty file among
    ``$<env_name>_FILE`` and ``$CREDENTIALS_DIRECTORY/<env_name>``; None if none.

    Unlike ``secret_setting`` an unreadable file is skipped, not an error (the ``[notify]``
    table's behaviour: a missing secret is reported by the caller when it is needed)."""
    if environ.get(env_name):
        return environ[env_name].strip()
    candidates = []
    if environ.get(f"{env_name}_FILE"):
        candidates.append(Path(environ[f"{env_name}_FILE"]))
    if environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(environ["CREDENTIALS_DIRECTORY"]) / env_name)
    for candidate in candidates:
        try:
            value = candidate.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return value
    return None
