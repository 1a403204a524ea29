"""Staff accounts: argon2-hashed passwords, roles, disabling, login throttling, sessions.

Functions take an open connection inside a transaction and ``now`` (time is an argument).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from incident import db, inbox
from incident.logs import get_logger


class Role(StrEnum):
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"staff": 0, "supervisor": 1, "admin": 2}[self.value]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @property
    def label(self) -> str:
        return {"staff": "сотрудник", "supervisor": "руководитель", "admin": "администратор"}[
            self.value
        ]


class UserError(Exception):
    """A user cannot be created or changed; the message says why (in Russian, for the UI)."""


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

# For the project's own test suite only (tests/conftest.py sets it; its subprocesses inherit it):
# argon2's cheapest parameters, so that the hundreds of accounts and logins of the suite do not
# cost 0.3 s of CPU each. Never set in production: the web app logs a warning when it is. A hash
# made under it is made again at the account's next login without it (``check_needs_rehash``).
CHEAP_HASHES_ENV = "INCIDENT_INSECURE_TEST_PASSWORD_HASHES"


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes)."""
    if os.environ.get(CHEAP_HASHES_ENV) == "1":
        get_logger().warning("test_only_password_hashes", variable=CHEAP_HASHES_ENV)
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def announce_test_hashes() -> None:
    """Log ``test_only_password_hashes`` now if the test-only setting is on (``incident web``
    calls it at start, so that an operator sees it before anyone logs in)."""
    _hasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both paths cost the same
    (made on first need: not every process that imports this module checks passwords)."""
    return _hasher().hash("incident-dummy-password")


# Each argon2 hash or check takes its memory cost (64 MiB by default) while it runs: 20 staff
# logging in at once took the web app to 958 MB. At most this many run at once; the others
# wait their turn (tens of milliseconds each) instead of adding their 64 MiB.
_ARGON2_AT_ONCE = threading.BoundedSemaphore(2)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    password_changed_at: datetime

    def can(self, role: Role) -> bool:
        return self.role.at_least(role)


def user_from_row(row: Any) -> User:
    """A ``User`` from a row of the users table."""
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        disabled=row.disabled,
        password_changed_at=row.password_changed_at,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"пароль слишком короткий: нужно не меньше {MIN_PASSWORD} символов")


def hash_password(password: str) -> str:
    with _ARGON2_AT_ONCE:
        return _hasher().hash(password)


def _verify(stored: str, password: str) -> bool:
    with _ARGON2_AT_ONCE:
        try:
            return bool(_hasher().verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def add_user(
    conn: Connection,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    *,
    display_name: str | None = None,
    actor: str = "cli",
) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError(
            "логин: 2-64 символа, латинские строчные буквы, цифры, точка, дефис, подчёркивание"
        )
    _check_password(password)
    if get_user(conn, username) is not None:
        raise UserError(f"пользователь {username} уже есть")
    conn.execute(
        insert(db.users).values(
            username=username,
            display_name=(display_name or username).strip()[:128] or username,
            password_hash=hash_password(password),
            role=role.value,
            disabled=False,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    inbox.audit(conn, now, actor, "user_added", None, user=username, role=role.value)
    user = get_user(conn, username)
    assert user is not None
    return user


def get_user(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(db.users).where(db.users.c.username == username)).first()
    return user_from_row(row) if row is not None else None


def list_users(conn: Connection) -> list[User]:
    return [user_from_row(r) for r in conn.execute(select(db.users).order_by(db.users.c.username))]


def set_password(
    conn: Connection, username: str, password: str, now: datetime, *, actor: str = "cli"
) -> None:
    """Change the password; every open session of the user ends."""
    _check_password(password)
    done = conn.execute(
        update(db.users)
        .where(db.users.c.username == username)
        .values(password_hash=hash_password(password), password_changed_at=now, updated_at=now)
    ).rowcount
    if done != 1:
        raise UserError(f"нет пользователя {username}")
    _end_sessions_of(conn, username)
    inbox.audit(conn, now, actor, "user_password_changed", None, user=username)


def set_disabled(
    conn: Connection, username: str, disabled: bool, now: datetime, *, actor: str = "cli"
) -> None:
    """Disable an account (every open session of it ends) or enable it again (it logs in
    anew: the sessions ended by the disable stay ended)."""
    done = conn.execute(
        update(db.users)
        .where(db.users.c.username == username)
        .values(disabled=disabled, updated_at=now)
    ).rowcount
    if done != 1:
        raise UserError(f"нет пользователя {username}")
    if disabled:
        _end_sessions_of(conn, username)
    action = "user_disabled" if disabled else "user_enabled"
    inbox.audit(conn, now, actor, action, None, user=username)


def set_role(
    conn: Connection, username: str, role: Role, now: datetime, *, actor: str = "cli"
) -> None:
    done = conn.execute(
        update(db.users)
        .where(db.users.c.username == username)
        .values(role=role.value, updated_at=now)
    ).rowcount
    if done != 1:
        raise UserError(f"нет пользователя {username}")
    inbox.audit(conn, now, actor, "user_role_changed", None, user=username, role=role.value)


def set_display_name(
    conn: Connection, username: str, display_name: str, now: datetime, *, actor: str = "cli"
) -> str:
    """Change the name the app shows for the account (the login stays); the name stored."""
    if any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in display_name):
        raise UserError("в имени есть недопустимые символы")
    name = " ".join(display_name.split())[:128]
    if not name:
        raise UserError("укажите имя: его видят коллеги в карточках и статистике")
    done = conn.execute(
        update(db.users)
        .where(db.users.c.username == username)
        .values(display_name=name, updated_at=now)
    ).rowcount
    if done != 1:
        raise UserError(f"нет пользователя {username}")
    inbox.audit(conn, now, actor, "user_renamed", None, user=username, name=name)
    return name


def display_names(conn: Connection) -> dict[str, str]:
    """Every account's login -> the name people see (for history, lists and exports)."""
    rows = conn.execute(select(db.users.c.username, db.users.c.display_name))
    return {r.username: r.display_name or r.username for r in rows}


# --- sessions ------------------------------------------------------------------------------

# The browser keeps a random key (in the web app's signed cookie); the table keeps its SHA-256,
# so reading the table does not give anyone a session.


def _session_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(conn: Connection, user: User, now: datetime, lifetime: timedelta) -> str:
    """A new session of ``user`` until ``now + lifetime``; returns the key for the cookie.
    Sessions that have expired (anyone's) are deleted on the way."""
    conn.execute(delete(db.web_sessions).where(db.web_sessions.c.expires_at <= now))
    key = secrets.token_urlsafe(32)
    conn.execute(
        insert(db.web_sessions).values(
            id=_session_id(key), user_id=user.id, created_at=now, expires_at=now + lifetime
        )
    )
    return key


def session_user(conn: Connection, key: str, now: datetime) -> User | None:
    """The active user whose unexpired session ``key`` is; None otherwise."""
    row = conn.execute(
        select(db.users)
        .join(db.web_sessions, db.web_sessions.c.user_id == db.users.c.id)
        .where(
            db.web_sessions.c.id == _session_id(key),
            db.web_sessions.c.expires_at > now,
            db.users.c.disabled.is_(False),
        )
    ).first()
    return user_from_row(row) if row is not None else None


def end_session(conn: Connection, key: str) -> None:
    """End the session ``key`` (logging out); the user's other sessions go on."""
    conn.execute(delete(db.web_sessions).where(db.web_sessions.c.id == _session_id(key)))


def _end_sessions_of(conn: Connection, username: str) -> None:
    user_ids = select(db.users.c.id).where(db.users.c.username == username).scalar_subquery()
    conn.execute(delete(db.web_sessions).where(db.web_sessions.c.user_id == user_ids))


# --- login and throttling ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``failures`` wrong passwords per key within ``window``; then locked for ``lock``."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


class LoginLocked(Exception):
    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"locked until {until.isoformat()}")


# The audit log's actor for a failed login whose name is no account: what was typed there may
# be a password, so it is stored nowhere.
UNKNOWN_LOGIN = "?"
# The key for unknown names' throttle counters when the caller gives none: random per process.
_PROCESS_NAME_KEY = secrets.token_bytes(32)


def _name_counter(name: str, row: Any, name_key: bytes) -> str:
    """The throttle key of a login name: an account's own name, else a keyed hash of what was
    typed (unknown names lock like real ones, so locking tells nobody which names exist)."""
    if row is not None:
        return f"user:{row.username}"
    digest = hmac.new(name_key, name.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    return f"name:{digest[:32]}"


def _locked_until(conn: Connection, keys: list[str], now: datetime) -> datetime | None:
    rows = conn.execute(
        select(db.login_throttle.c.locked_until).where(
            db.login_throttle.c.key.in_(keys), db.login_throttle.c.locked_until > now
        )
    ).all()
    return max((r.locked_until for r in rows), default=None)


def _record_failure(conn: Connection, key: str, now: datetime, policy: Throttle) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(db.login_throttle).values(
        key=key, failures=0, window_start=now, locked_until=None, updated_at=now
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
    row = conn.execute(
        select(db.login_throttle).where(db.login_throttle.c.key == key).with_for_update()
    ).one()
    failures, start = row.failures, row.window_start
    if now - start > policy.window:
        failures, start = 0, now
    failures += 1
    locked = now + policy.lock if failures >= policy.failures else None
    conn.execute(
        update(db.login_throttle)
        .where(db.login_throttle.c.key == key)
        .values(
            failures=0 if locked else failures,
            window_start=now if locked else start,
            locked_until=locked,
            updated_at=now,
        )
    )


def authenticate(
    conn: Connection,
    username: str,
    password: str,
    now: datetime,
    *,
    address: str | None = None,
    policy: Throttle | None = None,
    name_key: bytes | None = None,
) -> User | None:
    """The user if the password is right and the account active; None otherwise.

    Raises LoginLocked while too many recent failures lock the name or the address. The caller
    must commit the transaction even when None is returned: it records the failure. A session
    (``open_session``) belongs in the same transaction: the user's row stays locked until then.

    Failures count per name and per address; a success clears only its account's count (the
    address's goes on, so logging in to one's own account between guesses gains nothing). A
    name that is no account is never stored: its counter is a keyed hash of it (``name_key``,
    a secret; random per process without one) and the audit log says ``UNKNOWN_LOGIN``.
    """
    policy = policy or Throttle()
    name = username.strip().lower()
    # Locked until the caller commits: a password change or a disable waits for this login,
    # then ends the session it opened; a login after them reads the new row.
    row = conn.execute(
        select(db.users).where(db.users.c.username == name).with_for_update()
    ).first()
    account = _name_counter(name, row, name_key or _PROCESS_NAME_KEY)
    keys = [account, f"ip:{address[:64]}"] if address else [account]
    until = _locked_until(conn, keys, now)
    if until is not None:
        raise LoginLocked(until)
    stored = row.password_hash if row is not None else _dummy_hash()
    ok = _verify(stored, password)
    if not ok or row is None or row.disabled:
        for key in keys:
            _record_failure(conn, key, now, policy)
        actor = row.username if row is not None else UNKNOWN_LOGIN
        inbox.audit(conn, now, actor, "login_failed", None, address=address)
        return None
    conn.execute(delete(db.login_throttle).where(db.login_throttle.c.key == account))
    if _hasher().check_needs_rehash(stored):
        conn.execute(
            update(db.users)
            .where(db.users.c.id == row.id)
            .values(password_hash=hash_password(password), updated_at=now)
        )
    inbox.audit(conn, now, row.username, "login", None, address=address)
    return user_from_row(row)
