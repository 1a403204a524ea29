"""`incident user ...`, `incident web` and the demo's web app, run as an administrator would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from incident import users
from incident.cli import main
from incident.db import make_engine
from incident.users import Role
from incident.wiring import load_config
from tests.conftest import FakeClock
from tests.world import PASSWORD


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``incident ARGS`` through the CLI's own entry point, in this process (a Python start-up
    and the imports cost seconds per command; ``tests/test_process.py`` covers the process
    itself): its exit code, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, out.getvalue(), err.getvalue()


def test_user_add_passwd_disable_and_list(tmp_path: Path, clock: FakeClock) -> None:
    config = tmp_path / "config.toml"
    assert run("--config", str(config), "init")[0] == 0
    base = ("--config", str(config), "user")
    code, out, err = run(
        *base,
        "add",
        "anna",
        "--role",
        "supervisor",
        "--name",
        "Анна П.",
        env={"INCIDENT_USER_PASSWORD": PASSWORD},
    )
    assert code == 0, err
    assert "added anna (supervisor)" in out
    code, _, err = run(*base, "add", "anna", env={"INCIDENT_USER_PASSWORD": PASSWORD})
    assert code == 1
    assert "уже есть" in err
    code, _, err = run(*base, "add", "bob", env={"INCIDENT_USER_PASSWORD": "short"})
    assert (code, "слишком короткий" in err) == (1, True)

    engine = make_engine(load_config(config).database_url)
    try:
        with engine.begin() as conn:
            user = users.authenticate(conn, "anna", PASSWORD, clock())
        assert user is not None
        assert (user.role, user.display_name) == (Role.SUPERVISOR, "Анна П.")
        assert (
            run(*base, "passwd", "anna", env={"INCIDENT_USER_PASSWORD": "another password"})[0] == 0
        )
        with engine.begin() as conn:
            assert users.authenticate(conn, "anna", PASSWORD, clock()) is None
            assert users.authenticate(conn, "anna", "another password", clock()) is not None
        assert run(*base, "disable", "anna")[0] == 0
        with engine.begin() as conn:
            assert users.authenticate(conn, "anna", "another password", clock()) is None
        code, out, _ = run(*base, "list")
        assert re.search(r"^anna\tsupervisor\tdisabled\t", out, re.M)
        assert run(*base, "enable", "anna")[0] == 0
        assert run(*base, "disable", "nobody")[0] == 1
    finally:
        engine.dispose()


def test_the_stored_password_is_an_argon2_hash(tmp_path: Path, clock: FakeClock) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    from incident import migrate
    from incident.db import users as users_table

    migrate.upgrade(engine)
    try:
        with engine.begin() as conn:
            users.add_user(conn, "anna", PASSWORD, Role.STAFF, clock())
            stored = conn.execute(users_table.select()).one().password_hash
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored
    finally:
        engine.dispose()


def test_web_help_lists_host_and_port() -> None:
    code, out, _ = run("web", "--help")
    assert code == 0
    assert "--host" in out
    assert "--port" in out


def test_the_demo_serves_the_web_app_and_prints_the_login(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "incident",
            "demo",
            "--seconds",
            "8",
            "--port",
            "0",
            "--dir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "web app at" in line:
                break
        found = re.search(r"web app at (http://\S+?)/\s+login: (\S+)\s+password: (\S+)", lines[-1])
        assert found, lines
        url, name, password = found.groups()
        with httpx.Client(base_url=url, timeout=10, follow_redirects=True) as client:
            assert client.get("/health").json() == {"ok": True}
            page = client.get("/login")
            token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert token
            response = client.post(
                "/login",
                data={"username": name, "password": password, "csrf_token": token.group(1)},
            )
            assert response.status_code == 200
            assert "Очередь" in response.text
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    summary = r"demo: \d+ comments? stored, \d+ incidents? open, \d+ repl(y|ies) posted"
    assert re.search(summary, rest)


def test_with_json_logs_every_line_the_web_app_writes_is_json(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert run("--config", str(config), "init")[0] == 0
    starter = config.read_text(encoding="utf-8")
    assert 'format = "auto"' in starter
    config.write_text(starter.replace('format = "auto"', 'format = "json"', 1), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "incident", "--config", str(config), "web", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "INCIDENT_WEB_SECRET": "s" * 48},
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "running on" in line.lower():
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines += rest.splitlines()
    events = [json.loads(line) for line in lines if line.strip()]  # each one a JSON object
    running = [e for e in events if "running on" in e["event"].lower()]
    assert running, lines
    assert running[0]["logger"] == "uvicorn.error"
    assert "color_message" not in running[0]  # uvicorn's copy with terminal colours
