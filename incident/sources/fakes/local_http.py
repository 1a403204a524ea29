"""What every fake platform server shares: an HTTP server on 127.0.0.1, a free port, a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 refused connections when 200 long-polling sources
    # and their other calls arrived at once (the load benchmark); a platform would not.
    request_queue_size = 1024


class LocalHttpServer:
    """Start, stop and the ``with`` block of a fake served on ``self.url``; a subclass gives
    its request handler (``_handler``) and may wake its waiting requests (``_wake``)."""

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _wake(self) -> None:
        """Called as the server stops, before it shuts down: nothing to wake by default."""

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 from a daemon thread; ``url`` says where."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        server = _Server(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=self._thread_name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread; a second call does nothing."""
        server, thread = self._server, self._thread
        if server is None or thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake()
        server.shutdown()
        server.server_close()
        thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def json_bytes(body: Any) -> bytes:
    """``body`` as a platform sends JSON: UTF-8, compact; a string that UTF-8 cannot carry
    (a lone surrogate) goes escaped as ``\\ud800``, which is valid JSON."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode("ascii")
