"""The application factory: ``create_app(engine, settings) -> FastAPI``.

Nothing here reads the environment or the clock by itself: the CLI passes the engine, the
secret and the clock in, tests pass their own.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from incident import stats, words
from incident.logs import get_logger
from incident.sla import SlaSettings
from incident.stats import StatsCache
from incident.users import Role
from incident.web import display
from incident.web.auth import SESSION_HOURS, LoginRequired, csrf_guard, csrf_token
from incident.web.inputs import refuse_forbidden_characters
from incident.web.suggestions import KIND_TITLES, Suggestions, load_suggestions, redirect_text
from incident.web.throttle import Throttle

HERE = Path(__file__).parent
log = get_logger(part="web")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WebSettings:
    secret: str
    secure_cookies: bool = True
    rules_dir: Path | None = None
    replies_dir: Path | None = None
    clock: Callable[[], datetime] = _utc_now
    refresh_seconds: int = 10
    suggestions: Suggestions | None = field(default=None)
    # The deployment's SLA settings: the statistics page takes its time zone from them
    # (Europe/Moscow without them).
    sla: SlaSettings | None = None
    # Compute the statistics of the current month and the twelve before it in the background
    # when the app starts (``stats.warm_year``), so the first view of a year is quick.
    warm_stats: bool = False
    # The satisfaction survey: the definition file new campaigns use, the address citizens
    # reach this app at (None: links are paths), and the «оцените ответ» link's switch.
    survey_definition: Path | None = None
    public_url: str | None = None
    rating_links: bool = False
    # Public form posts per address within ten minutes (the survey and the rating link).
    public_posts_per_window: int = 10


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    env = t.env
    env.autoescape = True
    env.filters["clean"] = display.clean
    env.filters["first_line"] = display.first_line
    env.filters["msk"] = display.msk
    env.filters["event_details"] = display.event_details
    env.filters["person"] = display.person
    env.filters["reason"] = display.reason_label
    env.filters["count"] = words.count
    env.filters["number"] = words.number
    env.globals.update(
        STATUS_TITLES=display.STATUS_TITLES,
        OUTBOX_TITLES=display.OUTBOX_TITLES,
        PLATFORM_TITLES=display.PLATFORM_TITLES,
        ACTION_TITLES=display.ACTION_TITLES,
        KIND_TITLES=KIND_TITLES,
        SIMILAR=words.SIMILAR,
        FLAG_TITLES=display.FLAG_TITLES,
        redirect_text=redirect_text,
        Role=Role,
        time_left=display.time_left,
        highlight=display.highlight,
        platform_badge=display.platform_badge,
        words=words,
        slash_templates=display.slash_templates,
    )
    return t


def with_security_headers(request: Request, response: Response) -> Response:
    """The headers every answer carries (those a handler set itself are kept): a strict
    Content-Security-Policy, no sniffing, no framing, no caching except of static files."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def warm_statistics(app: FastAPI) -> threading.Thread:
    """Start ``stats.warm_year`` for the app's cache in a daemon thread; a failure is logged
    and only means the first view computes its months itself."""
    settings: WebSettings = app.state.settings
    timezone = settings.sla.calendar.timezone if settings.sla is not None else "Europe/Moscow"

    def run() -> None:
        started = time.perf_counter()
        try:
            with app.state.engine.begin() as conn:
                months = stats.warm_year(conn, app.state.stats_cache, app.state.clock(), timezone)
        except Exception:
            log.exception("stats_warm_failed")
            return
        log.info("stats_warmed", months=months, seconds=round(time.perf_counter() - started, 2))

    thread = threading.Thread(target=run, name="stats-warm", daemon=True)
    thread.start()
    return thread


def create_app(engine: Engine, settings: WebSettings) -> FastAPI:
    from incident.web import api
    from incident.web.pages import admin, card, health, login, queue, stats, survey, surveys

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.warm_stats:
            app.state.stats_warm = warm_statistics(app)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="incident: рабочее место SMM",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served at /api/openapi.json, behind login
        dependencies=[Depends(refuse_forbidden_characters), Depends(csrf_guard)],
        # Starlette's "/queue/" -> "/queue" redirect names the request's Host header (an open
        # redirect through a lying Host); every redirect of ours is a relative path instead.
        redirect_slashes=False,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.clock = settings.clock
    app.state.suggestions = settings.suggestions or load_suggestions(
        settings.rules_dir, settings.replies_dir
    )
    app.state.templates = templates()
    # Month figures kept between views of /stats (see stats.StatsCache): one per app.
    app.state.stats_cache = StatsCache()
    app.state.public_throttle = Throttle(
        hmac.new(settings.secret.encode(), b"incident: public form addresses", "sha256").digest(),
        limit=settings.public_posts_per_window,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret,
        session_cookie="incident_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        return with_security_headers(request, response)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "Нужно войти."}, status_code=401)
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        from urllib.parse import quote

        # the whole target is one parameter: its own "&" and "=" must stay encoded
        safe_next = quote(target, safe="/") if request.method == "GET" else "/queue"
        return RedirectResponse(f"/login?next={safe_next}", status_code=303)

    def error_page(request: Request, status: int, message: Any) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status)
        response: Response = app.state.templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "message": message if isinstance(message, str) else None,
                "csrf": csrf_token(request),
                "user": getattr(request.state, "user", None),
                "Role": Role,
            },
            status_code=status,
        )
        return response

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette runs this outside every middleware (then re-raises, so the server logs the
        # exception): the headers are set here. No session: it may be what failed.
        message = (
            "Что-то пошло не так на сервере. Попробуйте ещё раз через минуту; "
            "если не получится, сообщите администратору."
        )
        if request.url.path.startswith("/api/"):
            response: Response = JSONResponse({"detail": message}, status_code=500)
        else:
            response = app.state.templates.TemplateResponse(
                request,
                "error.html",
                {"status": 500, "message": message, "csrf": "", "user": None, "Role": Role},
                status_code=500,
            )
        return with_security_headers(request, response)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error_page(request, exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        where = {str(error.get("loc", ("",))[0]) for error in exc.errors()}
        if "path" in where:  # e.g. an incident number no incident can have
            return error_page(request, 404, "Такой страницы нет: проверьте адрес.")
        if "body" not in where:
            return error_page(
                request, 400, "В адресе страницы неверные параметры: проверьте ссылку."
            )
        return error_page(request, 400, "Форма заполнена неверно: проверьте поля и повторите.")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # the statistics page first: its /stats supersedes the placeholder of the other pages
    for page in (stats, login, queue, card, admin, health, survey, surveys):
        app.include_router(page.router)
    app.include_router(api.router)
    return app
