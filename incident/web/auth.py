"""Sessions, the current user, roles and CSRF protection.

Sessions are rows of ``web_sessions`` (``incident.users``): logging in opens one, logging out
deletes it, and a password change or disabling the account deletes every one of that user. The
browser holds the session's random key in Starlette's signed cookie (itsdangerous, HttpOnly,
SameSite=Lax, Secure unless turned off for plain-HTTP development), beside a CSRF token. The
session and its user are read on every request, so a copied cookie is worth nothing once its
session has ended.

CSRF: the synchronizer-token pattern. The token lives in the signed session; every form carries
it in a hidden ``csrf_token`` field and scripts send it in the ``X-CSRF-Token`` header. Every
non-GET request, the login form included, is refused without a matching token. This needs no
extra library: the signing is itsdangerous (already Starlette's), and the comparison is
constant-time.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Connection, Engine

from incident import users
from incident.users import Role, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SECRET_ENV = "INCIDENT_WEB_SECRET"  # noqa: S105 - variable names
SECRET_FILE_ENV = "INCIDENT_WEB_SECRET_FILE"  # noqa: S105
CREDENTIAL_NAME = "incident-web-secret"
SESSION_HOURS = 12
SESSION_KEY = "sid"  # the session's random key, in the signed cookie


class SecretError(Exception):
    pass


def load_secret(environ: Mapping[str, str] | None = None) -> str | None:
    """The session-signing secret: $INCIDENT_WEB_SECRET, the file named by
    $INCIDENT_WEB_SECRET_FILE, or the systemd credential ``incident-web-secret``."""
    env = os.environ if environ is None else environ
    if env.get(SECRET_ENV):
        value = env[SECRET_ENV].strip()
    elif env.get(SECRET_FILE_ENV):
        value = Path(env[SECRET_FILE_ENV]).read_text(encoding="utf-8").strip()
    elif (
        env.get("CREDENTIALS_DIRECTORY")
        and (Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME).is_file()
    ):
        value = (Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME).read_text("utf-8").strip()
    else:
        return None
    if len(value) < 32:
        raise SecretError("the web session secret must be at least 32 characters long")
    return value


class LoginRequired(Exception):
    """Raised by the auth dependency; pages answer with a redirect, the API with 401."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_guard(request: Request) -> None:
    """Global dependency: every state-changing request must carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(
            403,
            "Сессия устарела или форма отправлена не с этой страницы. "
            "Обновите страницу и повторите.",
        )


def start_session(request: Request, conn: Connection, user: User, now: datetime) -> None:
    """Open a session of ``user`` (a row, written in ``conn``'s transaction) and give the
    browser its key and a fresh CSRF token; whatever the cookie held before is dropped."""
    key = users.open_session(conn, user, now, timedelta(hours=SESSION_HOURS))
    request.session.clear()
    request.session.update({SESSION_KEY: key, "csrf": secrets.token_urlsafe(32)})


def end_session(request: Request) -> None:
    """Delete this browser's session on the server and forget the cookie's contents."""
    key = request.session.get(SESSION_KEY)
    if isinstance(key, str):
        with _engine(request).begin() as conn:
            users.end_session(conn, key)
    request.session.clear()


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def session_user(request: Request) -> User | None:
    """The user of this browser's session, if it is open, unexpired and the user active."""
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str):
        return None
    with _engine(request).connect() as conn:
        return users.session_user(conn, key, _now(request))


def current_user(request: Request) -> User:
    user = session_user(request)
    if user is None:
        request.session.pop(SESSION_KEY, None)
        raise LoginRequired()
    request.state.user = user
    return user


def require(role: Role) -> Callable[..., User]:
    def dependency(user: User = Depends(current_user)) -> User:  # noqa: B008
        if not user.can(role):
            raise HTTPException(403, "Недостаточно прав для этой страницы.")
        return user

    return dependency


def login_name_key(request: Request) -> bytes:
    """The key for the throttle's hash of login names that are no account: derived from the
    session secret, so every web process of a deployment counts a name alike."""
    secret: str = request.app.state.settings.secret
    return hmac.new(secret.encode(), b"incident: unknown login names", "sha256").digest()


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None
