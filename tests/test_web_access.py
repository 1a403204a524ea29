"""Who may do what: login, sessions, roles, CSRF, throttling. Every route is walked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from incident import db, migrate, users
from incident.db import make_engine
from incident.users import Role
from tests.conftest import FakeClock
from tests.world import (
    PASSWORD,
    SECRET,
    T0,
    add_incident,
    add_user,
    csrf_of,
    login,
    make_app,
    post_form,
    routes,
)

PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/health"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # its own bearer token: tests/test_metrics.py
    # citizens' pages: a survey campaign's form and a reply's rating link (tests/test_survey_web.py)
    ("GET", "/survey/anna"),
    ("POST", "/survey/anna"),
    ("GET", "/rate/anna"),
    ("POST", "/rate/anna"),
}
ADMIN_ONLY = "/admin/"
SUPERVISOR_ONLY = {"/stats"}
SUPERVISOR_PAGES = "/surveys"  # the survey's results, exports and tasks


@pytest.fixture
def app(engine: Engine, clock: FakeClock) -> Any:
    add_user(engine, "anna", Role.STAFF, clock())
    add_user(engine, "root", Role.ADMIN, clock())
    add_incident(engine, clock(), "Магазин не вернул деньги", external_id="1")
    return make_app(engine, clock)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def request(client: TestClient, method: str, path: str, token: str | None) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.request(method, path, headers=headers, json={}, follow_redirects=False)


def refused_as_anonymous(response: Any, path: str) -> bool:
    if path.startswith("/api/"):
        return bool(response.status_code == 401)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_route_walk_covers_pages_actions_api_and_admin(app: Any) -> None:
    paths = {p for _, p in routes(app)}
    for expected in (
        "/queue",
        "/incidents/1",
        "/incidents/1/reply",
        "/api/incidents",
        "/api/openapi.json",
        "/admin/users",
        "/admin/audit",
        "/stats",
    ):
        assert expected in paths
    assert len(routes(app)) >= 30


def test_every_route_refuses_anonymous_access_even_with_a_valid_csrf_token(
    app: Any, client: TestClient
) -> None:
    token = csrf_of(client)  # an anonymous session's token: passes CSRF, must not pass login
    checked = 0
    for method, path in routes(app):
        if (method, path) in PUBLIC:
            continue
        response = request(client, method, path, token)
        assert refused_as_anonymous(response, path), (method, path, response.status_code)
        checked += 1
    assert checked >= 30


def test_staff_are_refused_on_admin_and_supervisor_routes(app: Any, client: TestClient) -> None:
    assert login(client, "anna").status_code == 303
    token = csrf_of(client, "/queue")
    checked = 0
    for method, path in routes(app):
        if not (path.startswith((ADMIN_ONLY, SUPERVISOR_PAGES)) or path in SUPERVISOR_ONLY):
            continue
        response = request(client, method, path, token)
        assert response.status_code == 403, (method, path, response.status_code)
        checked += 1
    assert checked >= 7


def test_an_admin_reaches_admin_pages(client: TestClient) -> None:
    assert login(client, "root").status_code == 303
    assert client.get("/admin/users").status_code == 200
    assert client.get("/admin/audit").status_code == 200
    assert client.get("/stats").status_code == 200


def test_every_post_without_the_csrf_token_is_refused(
    app: Any, client: TestClient, engine: Engine
) -> None:
    assert login(client, "root").status_code == 303
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(db.audit_events)).scalar_one()
    posts = [(m, p) for m, p in routes(app) if m == "POST"]
    for _, path in posts:
        response = client.post(path, data={"text": "x", "reason": "spam"}, follow_redirects=False)
        assert response.status_code == 403, path
        wrong = client.post(
            path, data={"text": "x", "csrf_token": "forged" * 8}, follow_redirects=False
        )
        assert wrong.status_code == 403, path
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(db.audit_events)).scalar_one()
    assert after == before  # nothing happened
    assert len(posts) >= 15


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_queue(
    client: TestClient,
) -> None:
    bad = login(client, "anna", "wrong password!")
    assert bad.status_code == 401
    assert "Неверный логин или пароль" in bad.text
    good = login(client, "anna")
    assert (good.status_code, good.headers["location"]) == (303, "/queue")
    assert "Магазин не вернул деньги" in client.get("/queue").text


def test_login_is_locked_after_five_failures_even_for_the_right_password(
    client: TestClient, clock: FakeClock
) -> None:
    for _ in range(5):
        assert login(client, "anna", "wrong password!").status_code == 401
    locked = login(client, "anna")
    assert locked.status_code == 401
    assert "Слишком много неудачных попыток" in locked.text
    clock.advance(minutes=16)
    assert login(client, "anna").status_code == 303


def test_failures_spread_over_time_do_not_lock(engine: Engine, clock: FakeClock) -> None:
    add_user(engine, "vera", Role.STAFF, clock())
    for _ in range(8):
        with engine.begin() as conn:
            assert users.authenticate(conn, "vera", "nope", clock(), address="10.0.0.1") is None
        clock.advance(minutes=4)  # 4 failures per 15-minute window at most
    with engine.begin() as conn:
        assert users.authenticate(conn, "vera", PASSWORD, clock(), address="10.0.0.1")


def test_the_session_cookie_is_httponly_samesite_and_secure_when_asked(
    engine: Engine, clock: FakeClock
) -> None:
    add_user(engine, "anna", Role.STAFF, clock())
    app = make_app(engine, clock, secure_cookies=True)
    with TestClient(app, base_url="https://testserver") as client:
        response = login(client, "anna")
    cookie = response.headers["set-cookie"].lower()
    assert "incident_session=" in cookie
    for flag in ("httponly", "samesite=lax", "secure"):
        assert flag in cookie


def test_disabling_a_user_ends_their_open_session(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    assert login(client, "anna").status_code == 303
    assert client.get("/queue").status_code == 200
    with engine.begin() as conn:
        users.set_disabled(conn, "anna", True, clock())
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code == 303
    assert login(client, "anna").status_code == 401


def test_a_password_change_ends_sessions_opened_before_it(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    assert login(client, "anna").status_code == 303
    clock.advance(seconds=5)
    with engine.begin() as conn:
        users.set_password(conn, "anna", "a new long password", clock())
    assert client.get("/api/me").status_code == 401
    assert login(client, "anna", "a new long password").status_code == 303
    assert client.get("/api/me").json()["username"] == "anna"


def test_sessions_expire_after_a_working_day(client: TestClient, clock: FakeClock) -> None:
    assert login(client, "anna").status_code == 303
    clock.advance(hours=13)
    assert client.get("/api/me").status_code == 401


def test_login_redirects_only_to_local_paths(client: TestClient) -> None:
    token = csrf_of(client)
    for target, expected in (
        ("/incidents/1", "/incidents/1"),
        ("https://evil.example/", "/queue"),
        ("//evil.example/", "/queue"),
    ):
        client.cookies.clear()
        token = csrf_of(client)
        response = client.post(
            "/login",
            data={"username": "anna", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected


def test_an_admin_adds_a_user_who_can_then_log_in(client: TestClient) -> None:
    assert login(client, "root").status_code == 303
    response = post_form(
        client,
        "/admin/users",
        {"username": "galina", "password": "galina's password", "role": "supervisor"},
        "/admin/users",
    )
    assert response.status_code == 303
    assert "galina" in client.get("/admin/users").text
    client.cookies.clear()
    assert login(client, "galina", "galina's password").status_code == 303
    assert client.get("/stats").status_code == 200
    assert client.get("/admin/users").status_code == 403


def test_the_audit_log_records_logins_and_user_changes(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    login(client, "anna", "wrong password!")
    assert login(client, "root").status_code == 303
    page = client.get("/admin/audit").text
    assert "неудачный вход" in page
    assert "добавлен пользователь" in page


def test_health_is_public_and_says_ok(client: TestClient) -> None:
    for probe in ("/health", "/healthz", "/readyz"):
        response = client.get(probe)
        assert (response.status_code, response.json()) == (200, {"ok": True}), probe
        assert response.headers["cache-control"] == "no-store"


def test_readyz_fails_while_the_schema_is_behind_and_healthz_still_answers(
    tmp_path: Path, clock: FakeClock
) -> None:
    # A database the new version has not migrated yet: the web app is up but not ready.
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    migrate.upgrade(engine, "0006")
    try:
        with TestClient(make_app(engine, clock)) as client:
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()) == (503, {"ok": False})
    finally:
        engine.dispose()


def test_pages_forbid_framing_and_inline_scripts(client: TestClient) -> None:
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_secret_must_be_long(tmp_path: Any) -> None:
    from incident.web.auth import SecretError, load_secret

    assert load_secret({}) is None
    assert load_secret({"INCIDENT_WEB_SECRET": SECRET}) == SECRET
    (tmp_path / "incident-web-secret").write_text(SECRET + "\n", encoding="utf-8")
    assert load_secret({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == SECRET
    with pytest.raises(SecretError):
        load_secret({"INCIDENT_WEB_SECRET": "short"})


# ----- sessions end on the server, not only in the browser --------------------------------


def test_a_cookie_captured_before_logout_no_longer_works(app: Any, client: TestClient) -> None:
    assert login(client, "anna").status_code == 303
    with TestClient(app) as phone:  # the same person, logged in on a second device
        assert login(phone, "anna").status_code == 303
        token = phone.get("/api/me").json()["csrf_token"]
        captured = dict(phone.cookies)
        assert post_form(phone, "/logout", {}).status_code == 303

    with TestClient(app, cookies=captured) as thief:
        assert thief.get("/api/me").status_code == 401
        note = thief.post(
            "/api/incidents/1/notes", json={"text": "после выхода"}, headers={"X-CSRF-Token": token}
        )
        assert note.status_code == 401
    assert client.get("/api/me").json()["username"] == "anna"  # logout ends only that session


def test_re_enabling_a_user_does_not_revive_sessions_opened_before_the_disable(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    assert login(client, "anna").status_code == 303
    with engine.begin() as conn:
        users.set_disabled(conn, "anna", True, clock())
    clock.advance(minutes=1)
    with engine.begin() as conn:
        users.set_disabled(conn, "anna", False, clock())
    assert client.get("/api/me").status_code == 401
    assert login(client, "anna").status_code == 303
    assert client.get("/api/me").status_code == 200


def test_a_password_change_ends_a_session_opened_a_moment_before_it(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    assert login(client, "anna").status_code == 303
    clock.advance(seconds=0.3)
    with engine.begin() as conn:
        users.set_password(conn, "anna", "a new long password", clock())
    assert client.get("/api/me").status_code == 401


# ----- the login throttle and what a failed login leaves behind ---------------------------


def test_a_successful_login_does_not_reset_the_address_counter(client: TestClient) -> None:
    # one address: four wrong passwords, its own account, one more wrong password
    for _ in range(4):
        assert login(client, "root", "wrong password!").status_code == 401
    assert login(client, "anna").status_code == 303
    client.cookies.clear()
    assert login(client, "vera", "wrong password!").status_code == 401
    locked = login(client, "anna")
    assert locked.status_code == 401
    assert "Слишком много неудачных попыток" in locked.text


def test_a_successful_login_resets_the_accounts_counter_and_not_the_addresss(
    engine: Engine, clock: FakeClock
) -> None:
    add_user(engine, "vera", Role.STAFF, clock())

    def attempt(name: str, password: str, address: str) -> users.User | None:
        with engine.begin() as conn:
            return users.authenticate(conn, name, password, clock(), address=address)

    for _ in range(4):
        assert attempt("vera", "nope", "10.0.0.1") is None
    assert attempt("vera", PASSWORD, "10.0.0.1")
    for address in ("10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"):
        assert attempt("vera", "nope", address) is None
    assert attempt("vera", PASSWORD, "10.0.0.10")  # four failures since the success: open
    assert attempt("anna", "nope", "10.0.0.1") is None  # the address's fifth failure
    with pytest.raises(users.LoginLocked):
        attempt("anna", PASSWORD, "10.0.0.1")


def stored_text(engine: Engine) -> str:
    """Everything a failed login can leave: the audit log and the throttle table."""
    with engine.connect() as conn:
        audit = conn.execute(select(db.audit_events.c.actor, db.audit_events.c.details)).all()
        throttle = conn.execute(select(db.login_throttle.c.key)).all()
    return repr([tuple(r) for r in audit] + [tuple(r) for r in throttle])


def test_a_password_typed_into_the_user_name_field_is_stored_nowhere(
    client: TestClient, engine: Engine
) -> None:
    assert login(client, "Tr0ub4dor&3-secret", PASSWORD).status_code == 401
    assert "Tr0ub4dor" not in stored_text(engine)
    assert "tr0ub4dor" not in stored_text(engine)
    # a failed login of an existing account is still logged under its name
    assert login(client, "anna", "wrong password!").status_code == 401
    with engine.connect() as conn:
        actors = conn.execute(
            select(db.audit_events.c.actor).where(db.audit_events.c.action == "login_failed")
        ).scalars()
        assert "anna" in list(actors)


PRODUCTION_HASHING = """
import sys
from datetime import UTC, datetime
from incident import migrate, users
from incident.db import make_engine
from sqlalchemy import select
engine = make_engine(sys.argv[1])
migrate.upgrade(engine)
now = datetime(2026, 3, 2, 9, tzinfo=UTC)
with engine.begin() as conn:
    users.add_user(conn, "new", "a long password", users.Role.STAFF, now)
    assert users.authenticate(conn, "old", "the old password", now) is not None
    for row in conn.execute(select(users.db.users.c.username, users.db.users.c.password_hash)):
        print(row.username, row.password_hash.rsplit("$", 2)[0])
"""


def test_outside_the_test_suite_passwords_get_argon2id_at_64_mib_and_cheap_hashes_are_redone(
    tmp_path: Path,
) -> None:
    # the suite hashes with test-only parameters (conftest); a process without that setting
    # hashes with argon2id, 64 MiB, 3 passes, and an account hashed more cheaply is hashed again
    # at its next login
    url = f"sqlite:///{tmp_path / 'incident.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        users.add_user(conn, "old", "the old password", Role.STAFF, T0)
        cheap = conn.execute(select(db.users.c.password_hash)).scalar_one()
    engine.dispose()
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    env = {k: v for k, v in os.environ.items() if k != users.CHEAP_HASHES_ENV}
    done = subprocess.run(
        [sys.executable, "-c", PRODUCTION_HASHING, url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert sorted(done.stdout.split("\n")[:2]) == [
        "new $argon2id$v=19$m=65536,t=3,p=4",
        "old $argon2id$v=19$m=65536,t=3,p=4",
    ]
