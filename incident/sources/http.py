"""HTTP seams shared by sources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.auth

_SETTINGS_PER_SESSION = 64  # hosts whose environment settings a session remembers


class _NoAuth(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH = _NoAuth()


class Session(requests.Session):
    """A requests Session that reads the environment (proxy variables, ``no_proxy``, the CA
    bundle variables) once per host instead of at every request, and never looks for a
    ``~/.netrc`` (platform calls carry their tokens in their parameters).

    requests does both on every call: on a worker with hundreds of long polls that was a
    scan of the environment and several file-system checks per call, a tenth of the worker's
    time under load. A proxy set in the environment is still used, as the process found it
    when it first called that host."""

    def __init__(self) -> None:
        super().__init__()
        self.auth = _NO_AUTH  # with an auth of its own, a session does not read ~/.netrc
        self._settings: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or not isinstance(verify, bool | str | None) or isinstance(cert, tuple):
            return dict(super().merge_environment_settings(url, proxies, stream, verify, cert))
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        found = self._settings.get(key)
        if found is None:
            if len(self._settings) >= _SETTINGS_PER_SESSION:
                self._settings.clear()
            found = dict(super().merge_environment_settings(url, proxies, stream, verify, cert))
            self._settings[key] = found
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in found.items()}


class RewritingSession(Session):
    """A requests Session that sends calls for ``original`` to ``target`` instead.

    vk_api hard-codes ``https://api.vk.ru/``; its supported seam is the ``session=`` argument.
    This is how a deployment points it at a proxy or mirror, and how the demo and the tests
    point it at the local fake VK server, with every other byte of the client unchanged.
    """

    def __init__(self, original: str, target: str) -> None:
        super().__init__()
        if not original.endswith("/") or not target.endswith("/"):
            raise ValueError("both URL prefixes must end with '/'")
        self.original = original
        self.target = target

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith(self.original):
            text = self.target + text[len(self.original) :]
        return super().request(method, text, *args, **kwargs)
