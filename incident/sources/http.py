"""HTTP seams shared by sources."""

from __future__ import annotations

from typing import Any

import requests


class RewritingSession(requests.Session):
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
