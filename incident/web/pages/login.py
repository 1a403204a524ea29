"""Logging in and out, and the home page (a redirect to the queue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from incident import users
from incident.web import deps
from incident.web.auth import (
    client_address,
    end_session,
    login_name_key,
    session_user,
    start_session,
)
from incident.web.deps import CurrentUser

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The login form; someone already signed in goes straight on to ``next``."""
    if session_user(request) is not None:
        return deps.back(deps.safe_next(next))
    return deps.render(request, "login.html", {"next": deps.safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/queue",
) -> Response:
    """Check the password and start a session; a locked account is told when to try again."""
    now = deps.now(request)
    error = None
    try:
        with deps.engine(request).begin() as conn:
            user = users.authenticate(
                conn,
                username,
                password,
                now,
                address=client_address(request),
                name_key=login_name_key(request),
            )
            if user is not None:
                start_session(request, conn, user, now)
    except users.LoginLocked as exc:
        minutes = max(1, int((exc.until - now).total_seconds() // 60) + 1)
        error = f"Слишком много неудачных попыток. Попробуйте через {minutes} мин."
        user = None
    if user is None:
        error = error or "Неверный логин или пароль."
        return deps.render(
            request, "login.html", {"next": deps.safe_next(next), "error": error}, status_code=401
        )
    return deps.back(deps.safe_next(next))


@router.post("/logout")
def logout(request: Request, user: CurrentUser) -> Response:
    """End the session, on the server too: its cookie no longer opens anything."""
    end_session(request)
    return deps.back("/login")


@router.get("/")
def home(user: CurrentUser) -> Response:
    """The queue is the home page."""
    return deps.back("/queue")
