"""A local fake of the VK API that the real ``vk_api`` library talks to over HTTP.

``FakeVk`` serves ``/method/<name>`` (form POST or GET, VK's ``{"response"}`` / ``{"error"}``
bodies with HTTP 200) and a Bots Long Poll server at ``/longpoll/<group id>``. Tests build a
world (tokens, groups, users, posts, comments), point ``vk_api.VkApi(session=fake.session())`` at
it, inject faults and observe ``calls`` and ``created``. The state and the methods live in
``vk_world.py``.

Fault injection, per method name (``"longpoll"`` means the long poll ``a_check`` request;
``ANY_CALL``, ``"*"``, means whichever call comes next, long poll included, once a method's own
faults are used up):
- ``fail_next``: a VK error body, HTTP 200; the method does not run.
- ``http_error_next``: an HTTP error status with an HTML body; the method does not run.
- ``truncate_next``: the method runs (a comment is created!), then the JSON is cut in half: the
  "reply lost on the way back" case that ``guid`` exists for.
- ``delay_next``: the method runs after sleeping (a client timeout still leaves it done).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from incident.sources.fakes.local_http import LocalHttpServer, json_bytes
from incident.sources.fakes.vk_world import (
    API_VERSION,
    Group,
    StoredComment,
    StoredPost,
    Token,
    TokenKind,
    VkError,
    VkWorld,
)

VK_API_PREFIX = "https://api.vk.ru/"
Validator = Callable[[str, Any], None]
EventValidator = Callable[[dict[str, Any]], None]
_FaultKind = Literal["fail", "http", "truncate", "delay"]
ANY_CALL = "*"


class _RedirectingSession(requests.Session):
    """A ``requests.Session`` that sends ``https://api.vk.ru/...`` to the fake instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base_url = base_url

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, bytes):
            url = url.decode()
        if url.startswith(VK_API_PREFIX):
            url = self._base_url + url[len(VK_API_PREFIX) :]
        return super().request(method, url, *args, **kwargs)


class FakeVk(LocalHttpServer):
    """An in-process VK API and Bots Long Poll server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        longpoll_max_wait: float = 25.0,
        validator: Validator | None = None,
        event_validator: EventValidator | None = None,
    ) -> None:
        super().__init__("fake-vk")
        self._clock = clock
        self._max_wait = longpoll_max_wait
        self._validator = validator
        self._event_validator = event_validator
        self._world = VkWorld(on_event=self._on_event)
        self._lock = threading.RLock()
        # each community's long polls wait on a condition of their own (on the same lock): an
        # event wakes its community's waiters, not every waiting request of every community
        # (200 communities' long polls all woken by each new comment cost the fake a third of a
        # core and delayed every answer under bench/load.py)
        self._waiting: dict[int, threading.Condition] = {}
        self._faults: dict[tuple[str, _FaultKind], list[Any]] = {}
        self._longpoll_failures: list[int] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        # (time.monotonic(), method or "longpoll", the community asked about or 0) of every
        # request, for drills timing recovery
        self.requests: list[tuple[float, str, int]] = []
        self.schema_errors: list[str] = []

    # ----- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def _wake(self) -> None:
        """Long polls waiting for events return at once."""
        with self._lock:
            for waiting in self._waiting.values():
                waiting.notify_all()

    def _waiters_of(self, group_id: int) -> threading.Condition:
        """The condition ``group_id``'s long polls wait on (call under the lock)."""
        waiting = self._waiting.get(group_id)
        if waiting is None:
            waiting = self._waiting[group_id] = threading.Condition(self._lock)
        return waiting

    def session(self) -> requests.Session:
        """A session for ``vk_api.VkApi(session=...)``; close it when done."""
        if not self.url:
            raise RuntimeError("start the FakeVk before asking for a session")
        return _RedirectingSession(self.url)

    # ----- world building -------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        kind: TokenKind,
        group_id: int | None = None,
        *,
        user_id: int | None = None,
    ) -> None:
        """Register a token. ``group_id``: the community of a community token.

        ``user_id`` is the author of comments a user token posts without ``from_group``.
        """
        if kind == "community" and group_id is None:
            raise ValueError("a community token needs group_id")
        with self._lock:
            self._world.tokens[token] = Token(kind=kind, group_id=group_id, user_id=user_id)

    def add_group(self, group_id: int, name: str, screen_name: str | None = None) -> None:
        with self._lock:
            self._world.groups[group_id] = Group(
                id=group_id, name=name, screen_name=screen_name or f"club{group_id}"
            )

    def add_user(self, user_id: int, first_name: str, last_name: str) -> None:
        with self._lock:
            self._world.users[user_id] = (first_name, last_name)

    def add_post(self, group_id: int, text: str, date: int | None = None) -> int:
        with self._lock:
            group = self._world.group(group_id)
            post = StoredPost(id=group.take_id(), date=self._date(date), text=text)
            group.posts[post.id] = post
            return post.id

    def add_comment(
        self,
        group_id: int,
        post_id: int,
        from_id: int,
        text: str,
        *,
        date: int | None = None,
        reply_to_comment: int | None = None,
    ) -> int:
        with self._lock:
            group = self._world.group(group_id)
            try:
                comment = self._world.new_comment(
                    group, post_id, from_id, text, self._date(date), reply_to_comment
                )
            except VkError as exc:
                raise ValueError(str(exc)) from None
            return comment.id

    def edit_comment(self, group_id: int, comment_id: int, text: str) -> None:
        with self._lock:
            group, comment = self._find(group_id, comment_id)
            if comment.deleted:
                raise ValueError(f"comment {comment_id} is deleted")
            comment.text = text
            self._world.push_event(group, "wall_reply_edit", comment.wire())

    def delete_comment(
        self, group_id: int, comment_id: int, *, deleter_id: int | None = None
    ) -> None:
        """Delete a comment. ``deleter_id`` defaults to its author (0 for a community author)."""
        with self._lock:
            group, comment = self._find(group_id, comment_id)
            if comment.deleted:
                raise ValueError(f"comment {comment_id} is already deleted")
            comment.deleted = True
            deleter = deleter_id if deleter_id is not None else max(comment.from_id, 0)
            obj = {
                "owner_id": comment.owner_id,
                "id": comment.id,
                "deleter_id": deleter,
                "user_id": deleter,
                "post_id": comment.post_id,
            }
            self._world.push_event(group, "wall_reply_delete", obj)

    def restore_comment(self, group_id: int, comment_id: int) -> None:
        with self._lock:
            group, comment = self._find(group_id, comment_id)
            if not comment.deleted:
                raise ValueError(f"comment {comment_id} is not deleted")
            comment.deleted = False
            self._world.push_event(group, "wall_reply_restore", comment.wire())

    def revoke_token(self, token: str) -> None:
        """The token stops working for good: every call with it gets error 5, as on VK."""
        with self._lock:
            self._world.tokens.pop(token, None)

    def comment(self, group_id: int, comment_id: int) -> dict[str, Any]:
        """The stored ``wall_wall_comment`` (full text; ``deleted: true`` once deleted)."""
        with self._lock:
            return self._find(group_id, comment_id)[1].wire()

    def comments(self, group_id: int) -> list[dict[str, Any]]:
        """Every comment of a community as stored now (``deleted: true`` once deleted)."""
        with self._lock:
            group = self._world.group(group_id)
            return [c.wire() for c in group.comments.values()]

    def post_ids(self, group_id: int) -> list[int]:
        """The ids of a community's posts, oldest first."""
        with self._lock:
            return sorted(self._world.group(group_id).posts)

    def user_ids(self) -> list[int]:
        """The ids of every registered user, ascending."""
        with self._lock:
            return sorted(self._world.users)

    def events(self, group_id: int) -> list[dict[str, Any]]:
        """The retained long poll events of a community, oldest first."""
        with self._lock:
            return [event for _, event in self._world.group(group_id).events]

    @property
    def created(self) -> list[dict[str, Any]]:
        """Every comment ``wall.createComment`` actually created, as it was then."""
        with self._lock:
            return list(self._world.created)

    def _date(self, date: int | None) -> int:
        return int(self._clock()) if date is None else date

    def _find(self, group_id: int, comment_id: int) -> tuple[Group, StoredComment]:
        group = self._world.group(group_id)
        try:
            return group, group.comments[comment_id]
        except KeyError:
            raise KeyError(f"group {group_id} has no comment {comment_id}") from None

    def _on_event(self, event: dict[str, Any]) -> None:
        """Check a new event (when asked) and wake long poll waiters. Runs under the lock."""
        if self._event_validator is not None:
            try:
                self._event_validator(event)
            except Exception as exc:
                self.schema_errors.append(f"event {event['type']}: {exc}")
        waiting = self._waiting.get(event.get("group_id", 0))
        if waiting is not None:
            waiting.notify_all()

    # ----- fault injection ------------------------------------------------------------------

    def fail_next(self, method: str, error_code: int, times: int = 1) -> None:
        if method == "longpoll":
            raise ValueError("long poll has no VK error bodies: use longpoll_fail_next")
        self._add_fault(method, "fail", error_code, times)

    def http_error_next(self, method: str, status: int = 502, times: int = 1) -> None:
        self._add_fault(method, "http", status, times)

    def truncate_next(self, method: str, times: int = 1) -> None:
        self._add_fault(method, "truncate", True, times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        self._add_fault(method, "delay", seconds, times)

    def longpoll_fail_next(self, failed: Literal[1, 2, 3]) -> None:
        """The next ``a_check`` answers ``{"failed": N}``; 2 and 3 also expire the key."""
        with self._lock:
            self._longpoll_failures.append(failed)

    def _add_fault(self, method: str, kind: _FaultKind, value: Any, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.setdefault((method, kind), []).extend([value] * times)

    def _take_fault(self, method: str, kind: _FaultKind) -> Any:
        with self._lock:
            for name in (method, ANY_CALL):
                queue = self._faults.get((name, kind))
                if queue:
                    return queue.pop(0)
            return None

    # ----- request handling (called from the server's threads) ------------------------------

    def handle_method(self, name: str, params: dict[str, str]) -> tuple[int, bytes]:
        """Answer one ``/method/<name>`` request: (HTTP status, body)."""
        with self._lock:
            self.calls.append((name, {k: v for k, v in params.items() if k != "access_token"}))
            self.requests.append((time.monotonic(), name, _community_of(params)))
        delay = self._take_fault(name, "delay")
        if delay is not None:
            self._stopping.wait(delay)
        status = self._take_fault(name, "http")
        if status is not None:
            return status, _http_error_page(status)
        code = self._take_fault(name, "fail")
        try:
            if code is not None:
                raise VkError(code, "injected by the test", _error_extras(code))
            with self._lock:
                response = self._world.call(name, params, int(self._clock()))
                if name == "groups.getLongPollServer":
                    server = f"{self.url}longpoll/{int(params['group_id'])}"
                    response = {"key": response["key"], "server": server, "ts": response["ts"]}
        except VkError as exc:
            return HTTPStatus.OK, _dump({"error": _error_body(name, params, exc)})
        body = {"response": response}
        if self._validator is not None:
            try:
                self._validator(name, body)
            except Exception as exc:
                message = f"{name}: {exc}"
                with self._lock:
                    self.schema_errors.append(message)
                return HTTPStatus.INTERNAL_SERVER_ERROR, message.encode()
        return self._maybe_truncated(name, _dump(body))

    def handle_longpoll(self, group_id: int, params: dict[str, str]) -> tuple[int, bytes]:
        """Answer one Bots Long Poll ``a_check`` request, blocking while there is nothing new."""
        with self._lock:
            self.requests.append((time.monotonic(), "longpoll", group_id))
        delay = self._take_fault("longpoll", "delay")
        if delay is not None:
            self._stopping.wait(delay)
        status = self._take_fault("longpoll", "http")
        if status is not None:
            return status, _http_error_page(status)
        with self._lock:
            body = self._check_events(group_id, params)
        return self._maybe_truncated("longpoll", _dump(body))

    def _check_events(self, group_id: int, params: dict[str, str]) -> dict[str, Any]:
        group = self._world.groups.get(group_id)
        if group is None or params.get("act") != "a_check":
            return {"failed": 2}
        if self._longpoll_failures:
            failed = self._longpoll_failures.pop(0)
            if failed in (2, 3):
                group.longpoll_key = secrets.token_hex(16)
            return {"failed": 1, "ts": str(group.last_seq)} if failed == 1 else {"failed": failed}
        if params.get("key") != group.longpoll_key:
            return {"failed": 2}
        try:
            ts = int(params.get("ts", ""))
        except ValueError:
            return {"failed": 1, "ts": str(group.last_seq)}
        oldest = group.events[0][0] if group.events else group.last_seq + 1
        if ts > group.last_seq or ts < oldest - 1:
            return {"failed": 1, "ts": str(group.last_seq)}
        try:
            wait = max(0.0, min(float(params.get("wait", "25")), self._max_wait))
        except ValueError:
            wait = 0.0
        deadline = time.monotonic() + wait
        waiting = self._waiters_of(group_id)
        while group.last_seq == ts and not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or group.longpoll_key != params.get("key"):
                break
            waiting.wait(left)
        updates = [event for seq, event in group.events if seq > ts]
        return {"ts": str(group.last_seq), "updates": updates}

    def _maybe_truncated(self, name: str, data: bytes) -> tuple[int, bytes]:
        if self._take_fault(name, "truncate"):
            return HTTPStatus.OK, data[: len(data) // 2]
        return HTTPStatus.OK, data

    def record_internal_error(self, message: str) -> None:
        with self._lock:
            self.schema_errors.append(f"internal error in the fake: {message}")


def _community_of(params: dict[str, str]) -> int:
    """The community a method call is about (``group_id`` or minus ``owner_id``), or 0."""
    for key, sign in (("group_id", 1), ("owner_id", -1)):
        value = params.get(key, "")
        if value.lstrip("-").isdigit():
            return sign * int(value)
    return 0


def _dump(body: Any) -> bytes:
    return json_bytes(body)


def _http_error_page(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"<html><body><h1>{status} {phrase}</h1></body></html>".encode()


def _error_extras(code: int) -> dict[str, Any]:
    if code == 14:  # vk_api reads these two keys before calling its captcha handler
        return {"captcha_sid": "1234567890", "captcha_img": "https://api.vk.ru/captcha.php?sid=1"}
    if code == 17:
        return {"redirect_uri": "https://id.vk.ru/validate"}
    return {}


def _error_body(name: str, params: dict[str, str], exc: VkError) -> dict[str, Any]:
    shown = [{"key": "method", "value": name}, {"key": "oauth", "value": "1"}]
    shown += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    return {"error_code": exc.code, "error_msg": str(exc), "request_params": shown, **exc.extra}


def _make_handler(fake: FakeVk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeVk/" + API_VERSION
        # HTTP/1.1 keeps connections open between calls, as api.vk.ru does (every answer has
        # its Content-Length); HTTP/1.0 made each call a new TCP connection
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            params = _params(parts.query, body)
            try:
                segments = parts.path.strip("/").split("/")
                if len(segments) == 2 and segments[0] == "method":
                    status, data = fake.handle_method(segments[1], params)
                elif len(segments) == 2 and segments[0] == "longpoll" and segments[1].isdigit():
                    status, data = fake.handle_longpoll(int(segments[1]), params)
                else:
                    status, data = HTTPStatus.NOT_FOUND, _http_error_page(404)
            except Exception as exc:  # a bug in the fake: make it visible to the test
                fake.record_internal_error(f"{self.path}: {exc!r}")
                status, data = HTTPStatus.INTERNAL_SERVER_ERROR, repr(exc).encode()
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


def _params(query: str, body: bytes) -> dict[str, str]:
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    params.update({k: v[-1] for k, v in form.items()})
    return params
