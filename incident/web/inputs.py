"""Characters no request may carry: NUL and lone surrogates, refused before any handler runs.

PostgreSQL refuses NUL in text, and no database can store a lone surrogate (half of a UTF-16
pair, which a JSON ``\\ud800`` escape produces): either would end in a 500 deep inside a handler,
even an anonymous login's. One global dependency looks at everything a handler can read (path
parameters, the query string, form fields, a JSON body) and answers 400 at once: a page with a
message, or JSON under /api/. Comments from the platforms are another matter: the intake stores
them, with U+FFFD in place of such characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import HTTPException, Request

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "В запросе есть недопустимый символ (например, нулевой байт). Уберите его и повторите."


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (without recursion: any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def _body_strings(request: Request) -> Iterable[str]:
    if request.headers.get("content-type", "").startswith(FORMS):
        form = await request.form()  # parsed once: the handler and the CSRF check reuse it
        return [text for pair in form.multi_items() for text in pair if isinstance(text, str)]
    body = await request.body()
    if not body:
        return ()
    try:
        return _strings(json.loads(body))
    except (ValueError, RecursionError):
        return ()  # not JSON: FastAPI refuses it itself if the handler expects JSON


async def refuse_forbidden_characters(request: Request) -> None:
    """Global dependency: 400 if any text of the request holds NUL or a lone surrogate."""
    texts: list[Iterable[str]] = [
        (v for v in request.path_params.values() if isinstance(v, str)),
        (text for pair in request.query_params.multi_items() for text in pair),
    ]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        texts.append(await _body_strings(request))
    if any(FORBIDDEN.search(text) for group in texts for text in group):
        raise HTTPException(400, MESSAGE)
