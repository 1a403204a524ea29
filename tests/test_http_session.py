"""``sources.http.Session``: requests' settings from the environment, read once per host.

A worker makes hundreds of platform calls a second; requests scanned the environment and the
file system (``~/.netrc``) at every one of them. These tests hold what must survive that
economy: a proxy from the environment is still used, and no credential from a netrc file is
ever sent to a platform."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from incident.sources.http import RewritingSession, Session


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_proxy_from_the_environment_is_used_and_remembered_per_host(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", server)  # the recorder plays the proxy
    session = Session()
    assert session.get("http://api.vk.invalid/method/a", timeout=5).ok
    monkeypatch.delenv("HTTP_PROXY")
    assert session.get("http://api.vk.invalid/method/b", timeout=5).ok  # remembered: same host
    # through a proxy, the request line carries the whole address
    assert [path for path, _ in _Recorder.seen] == [
        "http://api.vk.invalid/method/a",
        "http://api.vk.invalid/method/b",
    ]


def test_no_credentials_from_a_netrc_file_reach_the_platform(
    server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login admin password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for proxy in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    assert requests.Session().get(f"{server}/plain", timeout=5).ok  # requests alone sends them
    assert Session().get(f"{server}/ours", timeout=5).ok
    assert (
        RewritingSession("https://api.vk.ru/", f"{server}/")
        .get("https://api.vk.ru/method/x", timeout=5)
        .ok
    )
    assert str(_Recorder.seen[0][1]).startswith("Basic ")
    assert _Recorder.seen[1:] == [("/ours", None), ("/method/x", None)]
