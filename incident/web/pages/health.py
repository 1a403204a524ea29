"""Probes for the service manager and the load balancer, without login: ``/healthz`` (the
process answers) and ``/readyz`` (the database answers and its schema is current; 503 if not).
They say nothing about incidents or people.

``/metrics``: Prometheus metrics (``incident.metrics``) for a scraper holding the bearer token
in $INCIDENT_METRICS_TOKEN (or the file named by $INCIDENT_METRICS_TOKEN_FILE); without a
token configured the route does not exist (404)."""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from incident import health, metrics

TOKEN_ENV = "INCIDENT_METRICS_TOKEN"  # noqa: S105 - a variable's name

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> JSONResponse:
    """The process is up and serving requests."""
    return JSONResponse({"ok": True})


@router.get("/readyz")
@router.get("/health")  # the older name, kept for existing monitors
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and its schema is current."""
    check = await run_in_threadpool(health.check_database, request.app.state.engine)
    return JSONResponse({"ok": check.ok}, status_code=200 if check.ok else 503)


def metrics_token() -> str | None:
    """The scrapers' bearer token from the environment (or its file), or None."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    path = os.environ.get(TOKEN_ENV + "_FILE", "").strip()
    if not token and path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            return None
    return token or None


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    """The metrics, for a request with ``Authorization: Bearer <token>``."""
    token = metrics_token()
    if token is None:
        return JSONResponse({"detail": "Не найдено."}, status_code=404)
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return JSONResponse(
            {"detail": "Нужен ключ доступа к метрикам."},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = request.app.state.metrics_registry = metrics.registry_with_database(
            request.app.state.engine
        )
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
