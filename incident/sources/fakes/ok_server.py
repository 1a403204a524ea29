"""A local fake of OK's ``fb.do`` API over real HTTP, for the OK source's tests and the contract.

``FakeOk`` serves ``POST``/``GET /fb.do`` on 127.0.0.1 (a random port) for one application
(``application_key`` + secret key) and its access tokens. Every request's signature is checked
the way docs/platforms.md describes (a wrong one answers error 104); a revoked token answers 102.
Errors come as OK sends them: HTTP 200 with ``{"error_code", "error_msg", "error_data"}``.
The state and the methods live in ``ok_world.py``.

Fault injection, per method name:
- ``fail_next``: an OK error body (e.g. 2, 8, 11); the method does not run.
- ``http_error_next``: an HTTP error status with an HTML body; the method does not run.
- ``truncate_next``: the method runs (a reply is posted!), then the JSON is cut in half: the
  "answer lost on the way back" case.
- ``delay_next``: the method runs after sleeping (a client timeout still leaves it done).
- ``refuse_replies(code)``: ``discussions.addDiscussionComment`` answers ``code`` (10, 200...)
  until ``refuse_replies(None)``: OK not accepting replies through the API.

The method name ``"*"`` stands for whichever call comes next (checked after the exact name).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from incident.sources.fakes.local_http import LocalHttpServer, json_bytes
from incident.sources.fakes.ok_world import OkError, OkWorld, StoredComment, utc_now
from incident.sources.ok.client import sign

_FaultKind = Literal["fail", "http", "truncate", "delay"]
UNSIGNED = frozenset({"access_token", "session_key", "sig"})


class FakeOk(LocalHttpServer):
    """An in-process OK API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        application_key: str,
        application_secret_key: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__("fake-ok")
        self.application_key = application_key
        self._secret_key = application_secret_key
        self._clock = clock
        self._world = OkWorld()
        self._tokens: dict[str, str] = {}  # access token -> user id
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, _FaultKind], list[Any]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []

    # ----- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # ----- world building -------------------------------------------------------------------

    def add_token(self, token: str, user_id: str) -> None:
        """An access token issued to user ``user_id`` for this application."""
        with self._lock:
            self._tokens[token] = user_id

    def revoke_token(self, token: str) -> None:
        """The token stops working (OK answers 102, session expired)."""
        with self._lock:
            self._tokens.pop(token, None)

    def add_group(self, group_id: str, name: str) -> None:
        with self._lock:
            self._world.groups[group_id] = name

    def add_user(self, user_id: str, name: str) -> None:
        with self._lock:
            self._world.users[user_id] = name

    def add_post(self, group_id: str, text: str, at: datetime | None = None) -> str:
        """The group publishes a post (a media topic); returns its id."""
        with self._lock:
            return self._world.add_topic(group_id, text, at or self._clock()).id

    def add_comment(
        self,
        topic_id: str,
        user_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """A user comments under the post (or answers comment ``reply_to``); returns its id."""
        return self._add(topic_id, user_id, text, reply_to, at, as_group=False)

    def add_group_answer(
        self, topic_id: str, text: str, *, reply_to: str | None = None, at: datetime | None = None
    ) -> str:
        """The group answers in OK's own interface (``author_type = GROUP``)."""
        with self._lock:
            group = self._world.topic(topic_id).group_id
        return self._add(topic_id, group, text, reply_to, at, as_group=True)

    def _add(
        self,
        topic_id: str,
        author: str,
        text: str,
        reply_to: str | None,
        at: datetime | None,
        *,
        as_group: bool,
    ) -> str:
        with self._lock:
            try:
                comment = self._world.add_comment(
                    topic_id,
                    author,
                    text,
                    at or self._clock(),
                    reply_to=reply_to,
                    as_group=as_group,
                )
            except OkError as exc:
                raise ValueError(str(exc)) from None
            return comment.id

    def edit_comment(self, comment_id: str, text: str) -> None:
        with self._lock:
            self._find(comment_id).text = text

    def delete_comment(self, comment_id: str) -> None:
        """The comment just disappears (OK sends no sign of it)."""
        with self._lock:
            self._find(comment_id).deleted = True

    def refuse_replies(self, code: int | None) -> None:
        """``discussions.addDiscussionComment`` answers error ``code`` (None: accepts again)."""
        with self._lock:
            self._world.refuse_replies_with = code

    def comment(self, comment_id: str) -> dict[str, Any]:
        """The stored comment in OK's wire format (also a deleted one)."""
        with self._lock:
            return self._find(comment_id).wire()

    @property
    def created(self) -> list[dict[str, Any]]:
        """Every comment ``discussions.addDiscussionComment`` created, oldest first."""
        with self._lock:
            return [{**c.wire(), "topic_id": c.topic_id} for c in self._world.created]

    @property
    def protocol_errors(self) -> list[str]:
        """Things a client must never do that it did (e.g. send ``mark_as_read``)."""
        with self._lock:
            return list(self._world.protocol_errors)

    def count(self, method: str) -> int:
        """How many requests named ``method`` arrived."""
        with self._lock:
            return sum(1 for name, _ in self.calls if name == method)

    def record_internal_error(self, message: str) -> None:
        with self._lock:
            self._world.protocol_errors.append(f"internal error in the fake: {message}")

    def _find(self, comment_id: str) -> StoredComment:
        try:
            return self._world.comments[comment_id]
        except KeyError:
            raise KeyError(f"no comment {comment_id}") from None

    # ----- fault injection ------------------------------------------------------------------

    def fail_next(self, method: str, error_code: int, times: int = 1) -> None:
        self._add_fault(method, "fail", error_code, times)

    def http_error_next(self, method: str, status: int = 502, times: int = 1) -> None:
        self._add_fault(method, "http", status, times)

    def truncate_next(self, method: str, times: int = 1) -> None:
        self._add_fault(method, "truncate", True, times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        self._add_fault(method, "delay", seconds, times)

    def _add_fault(self, method: str, kind: _FaultKind, value: Any, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.setdefault((method, kind), []).extend([value] * times)

    def _take_fault(self, method: str, kind: _FaultKind) -> Any:
        with self._lock:
            for name in (method, "*"):
                queue = self._faults.get((name, kind))
                if queue:
                    return queue.pop(0)
            return None

    # ----- request handling (called from the server's threads) ------------------------------

    def handle(self, params: dict[str, str]) -> tuple[int, bytes]:
        """Answer one ``fb.do`` request: (HTTP status, body)."""
        method = params.get("method", "")
        with self._lock:
            self.calls.append((method, {k: v for k, v in params.items() if k not in UNSIGNED}))
        delay = self._take_fault(method, "delay")
        if delay is not None:
            self._stopping.wait(delay)
        status = self._take_fault(method, "http")
        if status is not None:
            return status, _http_error_page(status)
        code = self._take_fault(method, "fail")
        try:
            if code is not None:
                raise OkError(code, "injected by the test")
            with self._lock:
                user = self._authorize(params)
                body = self._world.call(method, params, user, self._clock())
        except OkError as exc:
            return HTTPStatus.OK, _dump(exc.body())
        data = _dump(body)
        if self._take_fault(method, "truncate"):
            return HTTPStatus.OK, data[: len(data) // 2]
        return HTTPStatus.OK, data

    def _authorize(self, params: dict[str, str]) -> str:
        if params.get("application_key") != self.application_key:
            raise OkError(101)
        if params.get("format", "json").lower() != "json":
            raise OkError(100, "this fake answers format=json only")
        token = params.get("access_token")
        if not token:
            raise OkError(453)
        user = self._tokens.get(token)
        if user is None:
            raise OkError(102)
        signed = {k: v for k, v in params.items() if k not in UNSIGNED}
        if params.get("sig", "").lower() != sign(signed, token, self._secret_key):
            raise OkError(104)
        return user


def _dump(body: Any) -> bytes:
    return json_bytes(body)


def _http_error_page(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"<html><body><h1>{status} {phrase}</h1></body></html>".encode()


def _make_handler(fake: FakeOk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeOk/1"

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
            if parts.path.rstrip("/") == "/fb.do":
                try:
                    status, data = fake.handle(params)
                except Exception as exc:  # a bug in the fake: make it visible to the test
                    fake.record_internal_error(f"{self.path}: {exc!r}")
                    status, data = HTTPStatus.INTERNAL_SERVER_ERROR, repr(exc).encode()
            else:
                status, data = HTTPStatus.NOT_FOUND, _http_error_page(404)
            self.send_response(status)
            kind = "application/json" if status == HTTPStatus.OK else "text/html"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up before the answer was ready
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
