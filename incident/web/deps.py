"""What every page handler needs from its request: the clock, the engine, the suggestions, the
signed-in user, templates, flash messages, redirects and one transaction per staff action."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field
from sqlalchemy import Connection, Engine

from incident import inbox, users
from incident.users import Role, User
from incident.web import queries
from incident.web.auth import csrf_token, current_user, require
from incident.web.suggestions import Suggestions

CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(require(Role.ADMIN))]

# A row id as a path, query, form or JSON value: a positive 64-bit integer, the most a BIGINT
# (and SQLite's INTEGER) holds, so a larger number is refused as invalid input (never a 500
# from the database).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def now(request: Request) -> datetime:
    """The app's clock (``WebSettings.clock``): the one time a request works with."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def engine(request: Request) -> Engine:
    """The database engine the app was created with."""
    found: Engine = request.app.state.engine
    return found


def suggestions(request: Request) -> Suggestions:
    """The app's rules and reply catalogue (``WebSettings.suggestions``, or loaded at start)."""
    found: Suggestions = request.app.state.suggestions
    return found


def known_topic(request: Request, topic: str, status: int = 400) -> str:
    """``topic`` if the loaded rules have it; otherwise the request is refused with ``status``
    (staff choose from the rules' topics: anything else is a forged or stale form)."""
    topic = topic.strip()
    if topic not in suggestions(request).topics:
        raise HTTPException(status, "Нет такой темы: выберите тему из списка.")
    return topic


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The template ``name`` with ``context`` and what every page shows: the user, the CSRF
    token, the pending flash message (shown once), the time, the roles and every account's
    display name (``names``: login -> name, for the ``person`` filter)."""
    user = getattr(request.state, "user", None)
    message = request.session.pop("flash", None)
    names: dict[str, str] = {}
    if user is not None and "names" not in context:
        with engine(request).connect() as conn:
            names = users.display_names(conn)  # people are shown by name, never by login
    base = {
        "names": names,
        "user": user,
        "csrf": csrf_token(request),
        "flash": message,
        "now": now(request),
        "Role": Role,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    return response


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """Keep ``message`` in the session for the next page shown (``kind``: "ok" or "error")."""
    request.session["flash"] = {"text": message, "kind": kind}


def back(path: str) -> RedirectResponse:
    """Redirect to ``path`` with a GET (303: after a form, the browser does not post again)."""
    return RedirectResponse(path, status_code=303)


@contextmanager
def action(request: Request) -> Iterator[Connection]:
    """A transaction for one staff action; a refusal becomes an error message on the page
    (the transaction is rolled back and the handler goes on to its redirect)."""
    try:
        with engine(request).begin() as conn:
            yield conn
    except inbox.ActionRefused as exc:
        flash(request, str(exc), "error")
    except users.UserError as exc:
        flash(request, str(exc), "error")


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site, else the queue (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/queue"
    return value


def queue_filter(
    platform: Annotated[str | None, Query(max_length=32)] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    topic: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    mine: Annotated[str | None, Query(max_length=8)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    sort: Annotated[str | None, Query(max_length=8)] = None,
    fresh: Annotated[str | None, Query(max_length=8)] = None,
) -> queries.QueueFilter:
    """The queue's filters from the query string; empty fields mean "any", status "open"."""
    return queries.make_filter(
        platform, community, topic, status, mine, overdue, q, offset, sort, fresh
    )


QueueFilterDep = Annotated[queries.QueueFilter, Depends(queue_filter)]
