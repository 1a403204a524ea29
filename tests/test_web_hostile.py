"""Hostile input: whatever a request carries, the app answers 4xx with a message, never 500;
every answer, errors included, carries the security headers; redirects never name the Host.

Every test runs on SQLite and on PostgreSQL (PostgreSQL refuses NUL in text outright).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from starlette.testclient import TestClient

from incident import db, migrate
from incident.db import make_engine
from incident.users import Role
from tests.conftest import FakeClock
from tests.world import add_incident, add_user, csrf_of, login, make_app, post_form, routes

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


# ----- NUL and lone surrogates --------------------------------------------------------------


def test_nul_in_a_filter_is_refused_with_a_message(root: TestClient) -> None:
    for path, params in (
        ("/queue", {"q": "деньги\x00"}),
        ("/queue", {"platform": "\x00"}),
        ("/queue/rows", {"community": "42\x00"}),
        ("/api/incidents", {"topic": "\x00"}),
        ("/api/incidents", {"q": "\x00"}),
        ("/stats", {"community": "\x00"}),
        ("/api/stats", {"person": "\x00"}),
        ("/stats/export", {"topic": "\x00", "format": "csv"}),
        ("/stats/report", {"community": "\x00"}),
    ):
        response = root.get(path, params=params)
        assert refused_politely(response, path), (path, params, response.status_code)
    page = root.get("/queue", params={"q": "\x00"})
    assert "недопустимый символ" in page.text


def test_nul_in_a_form_field_is_refused_and_nothing_is_stored(
    root: TestClient, engine: Engine
) -> None:
    assert root.get("/incidents/1").status_code == 200  # root holds the incident from here on
    before = audit_count(engine)
    for path, data in (
        ("/incidents/1/note", {"text": "Позвонить\x00"}),
        ("/incidents/1/reply", {"text": "Здравствуйте!\x00"}),
        ("/incidents/1/assign", {"assignee": "\x00"}),
        ("/admin/users", {"username": "galina\x00", "password": "x" * 12, "role": "staff"}),
        ("/admin/users/%00/disable", {}),
    ):
        response = post_form(root, path, data, "/incidents/1")
        assert refused_politely(response, path), (path, response.status_code)
    assert audit_count(engine) == before


def test_an_anonymous_login_with_nul_in_the_user_name_is_refused(app: Any, engine: Engine) -> None:
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        token = csrf_of(anonymous)
        for name in ("\x00", "root\x00"):
            response = anonymous.post(
                "/login",
                data={"username": name, "password": "whatever", "csrf_token": token},
            )
            assert refused_politely(response, "/login"), response.status_code
        response = anonymous.post(
            "/login", data={"username": "root", "password": "\x00", "csrf_token": token}
        )
        assert refused_politely(response, "/login"), response.status_code


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "note \\u0000"}',
        b'{"text": "note \\ud800"}',
        b'{"text": "note \\udfff tail"}',
        b'{"text": "ok", "\\ud83d": 1}',
        b'{"text": "note \xed\xa0\x80"}',  # a surrogate encoded as UTF-8: not UTF-8 at all
    ],
)
def test_nul_and_lone_surrogates_in_api_bodies_are_refused(
    root: TestClient, engine: Engine, body: bytes
) -> None:
    token = root.get("/api/me").json()["csrf_token"]
    before = audit_count(engine)
    for path in ("/api/incidents/1/notes", "/api/incidents/1/reply"):
        response = root.post(
            path,
            content=body,
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert refused_politely(response, path), (path, response.status_code)
    assert audit_count(engine) == before
    pair = root.post(  # a surrogate pair is an ordinary character (here an emoji)
        "/api/incidents/1/notes",
        content=b'{"text": "\\ud83d\\ude00"}',
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert pair.status_code == 200
    assert "\U0001f600" in root.get("/incidents/1").text


# ----- errors carry the security headers -----------------------------------------------------


def test_an_unexpected_failure_is_a_500_page_with_the_security_headers(
    tmp_path: Path, clock: FakeClock
) -> None:
    # a database of its own, broken on purpose after login: a table is gone
    engine = make_engine(f"sqlite:///{tmp_path / 'broken.sqlite3'}")
    migrate.upgrade(engine)
    add_user(engine, "root", Role.ADMIN, clock())
    add_incident(engine, clock(), "Магазин не вернул деньги", external_id="1")
    with TestClient(make_app(engine, clock), raise_server_exceptions=False) as client:
        assert login(client, "root").status_code == 303
        token = client.get("/api/me").json()["csrf_token"]
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE notes"))
        page = client.post("/incidents/1/note", data={"text": "Позвонить", "csrf_token": token})
        api = client.post(
            "/api/incidents/1/notes", json={"text": "Позвонить"}, headers={"X-CSRF-Token": token}
        )
        missing = client.get("/no-such-page")
    engine.dispose()
    assert page.status_code == 500
    assert "Что-то пошло не так" in page.text
    assert api.status_code == 500
    assert api.json()["detail"]
    assert missing.status_code == 404
    for response in (page, api, missing):
        for name in SECURITY_HEADERS:
            assert name in response.headers, name
        assert response.headers["cache-control"] == "no-store"


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
