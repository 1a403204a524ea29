"""Probes for the service manager and the load balancer, without login: ``/healthz`` (the
process answers) and ``/readyz`` (the database answers and its schema is current; 503 if not).
They say nothing about incidents or people."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from incident import health

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
