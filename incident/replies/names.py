"""Whether an author's name may go into a public reply.

The greeting («Анна, здравствуйте!») is posted as the community, and the name in it is whatever
the author chose: a VK mention of everyone (``[id1|@all]``), a link, markup, a spreadsheet
formula or a right-to-left override would all be published by the committee. A name is used
only when, with invisible characters (format and control characters) dropped and spaces
collapsed, it looks like a person's name: Cyrillic or Latin letters in words joined by single
spaces, hyphens or apostrophes, 2 to ``MAX_NAME`` characters, and not a platform's placeholder
for a deleted account (VK's "DELETED"). Anything else greets without one.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_NAME", "first_name", "plausible_name"]

MAX_NAME = 60
_LETTERS = r"[^\W\d_]+"
_NAME = re.compile(rf"{_LETTERS}(?:[ '’ʼ-]{_LETTERS})*")
_JOINERS = frozenset(" '’ʼ-")
_INVISIBLE = frozenset(("Cc", "Cf"))  # controls, bidi marks, zero-width characters, soft hyphen
# What platforms show in place of a deleted or blocked account's name (VK: "DELETED"):
# greeting someone by it would read as a mistake.
_PLACEHOLDERS = frozenset({"deleted", "deleted deleted", "удалён", "удален", "удалённый"})


def _cyrillic_or_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CYRILLIC ", "LATIN "))


def plausible_name(text: str | None) -> str | None:
    """``text`` cleaned of invisible characters if it looks like a person's name, else None."""
    if not text:
        return None
    spaced = " ".join(text.split())  # before the controls go: a line break separates words
    kept = "".join(c for c in spaced if unicodedata.category(c) not in _INVISIBLE)
    name = " ".join(unicodedata.normalize("NFC", kept).split())
    if not 2 <= len(name) <= MAX_NAME or not _NAME.fullmatch(name):
        return None
    if not all(c in _JOINERS or _cyrillic_or_latin(c) for c in name):
        return None
    if name.casefold() in _PLACEHOLDERS:
        return None
    return name


def first_name(author_name: str | None) -> str | None:
    """The first word of an author's full name («Иван Петров» -> «Иван»), if the whole of it
    looks like a name."""
    name = plausible_name(author_name)
    return None if name is None else name.split(" ")[0]
