"""Hostile input: whatever a request carries, the app answers 4xx with a message, never 500;
every answer, errors included, carries the security headers; redirects never name the Host.

Every test runs on SQLite and on PostgreSQL (PostgreSQL refuses NUL in text outright).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from incident import db
from incident.users import Role
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, login, make_app, post_form, routes

HUGE_IDS = (str(2**63), str(2**64), "9" * 40)
SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
)


@pytest.fixture
def app(engine: Engine, clock: FakeClock) -> Any:
    add_user(engine, "root", Role.ADMIN, clock())
    add_incident(engine, clock(), "Магазин не вернул деньги", external_id="1")
    return make_app(engine, clock)


@pytest.fixture
def root(app: Any) -> Iterator[TestClient]:
    """An administrator, logged in: every route is open to them."""
    with TestClient(app, raise_server_exceptions=False) as client:
        assert login(client, "root").status_code == 303
        yield client


def refused_politely(response: Any, path: str) -> bool:
    """A 4xx with a message: JSON under /api/, a Russian page elsewhere; and the headers."""
    if not 400 <= response.status_code < 500:
        return False
    if any(name not in response.headers for name in SECURITY_HEADERS):
        return False
    if path.startswith("/api/"):
        return bool(response.json()["detail"])
    return "<html" in response.text and "Ошибка" in response.text


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.audit_events)).scalar_one())


# ----- numbers out of range ---------------------------------------------------------------


def test_every_route_refuses_an_incident_id_above_2_63(app: Any, root: TestClient) -> None:
    token = root.get("/api/me").json()["csrf_token"]
    checked = 0
    for huge in HUGE_IDS:
        for method, path in routes(app, incident_id=huge):
            if huge not in path:
                continue
            if method == "GET":
                response = root.get(path, follow_redirects=False)
            else:
                response = root.post(
                    path,
                    json={"text": "x"},
                    headers={"X-CSRF-Token": token},
                    follow_redirects=False,
                )
            assert refused_politely(response, path), (method, path, response.status_code)
            checked += 1
    assert checked >= 3 * 20


def test_ids_above_2_63_in_bodies_and_queries_are_refused(root: TestClient, engine: Engine) -> None:
    token = root.get("/api/me").json()["csrf_token"]
    assert root.get("/incidents/1").status_code == 200  # root holds the incident from here on
    before = audit_count(engine)
    for huge in HUGE_IDS:
        api = root.post(
            "/api/incidents/1/retry", json={"outbox_id": int(huge)}, headers={"X-CSRF-Token": token}
        )
        assert refused_politely(api, "/api/"), api.status_code
        form = post_form(root, "/incidents/1/retry", {"outbox_id": huge}, "/incidents/1")
        assert refused_politely(form, "/incidents/1/retry"), form.status_code
        audit = root.get("/admin/audit", params={"before": huge})
        assert refused_politely(audit, "/admin/audit"), audit.status_code
    assert audit_count(engine) == before


# ----- redirects ---------------------------------------------------------------------------


def test_redirects_never_name_the_host_the_request_gave(app: Any, root: TestClient) -> None:
    token = root.get("/api/me").json()["csrf_token"]
    hostile = {"Host": "evil.example"}
    locations = []
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        for client in (root, anonymous):
            for method, path in routes(app):
                for variant in (path, path + "/", path + "//"):
                    if method == "GET":
                        response = client.get(variant, headers=hostile, follow_redirects=False)
                    else:
                        response = client.post(
                            variant,
                            data={"csrf_token": token},
                            headers=hostile,
                            follow_redirects=False,
                        )
                    if "location" in response.headers:
                        locations.append((variant, response.headers["location"]))
    assert locations
    for variant, location in locations:
        assert location.startswith("/"), (variant, location)
        assert not location.startswith("//"), (variant, location)
        assert "evil.example" not in location, variant
