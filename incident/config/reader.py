"""The one strict reader of TOML tables that every settings parser uses.

A ``Table`` wraps one table of ``config.toml`` and the place it came from (``where``: the file
and the table, e.g. ``config.toml [sla]``). Typed lookups take a key and a default; a wrong type, a
value out of range or a key nobody reads is a ``ConfigError`` that names the file, the key path and
what was expected. Known keys can be declared up front (a typo is then reported first, with the list
of known keys); ``done()`` rejects whatever was not read. An unknown key close to a known one
("gruop_id") is reported with the key it was probably meant to be, even when that key is
required and so looked missing.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, Final, TypeVar

__all__ = [
    "REQUIRED",
    "ConfigError",
    "Table",
    "describe",
    "parse_clock",
    "parse_date",
    "syntax_error",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem a human must fix. The message says where and what."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()  # a lookup's default meaning "the key must be present"
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def describe(value: Any) -> str:
    """A value's type and repr, cut short, for "expected X, got Y" messages."""
    return f"{type(value).__name__} {value!r}"[:80]


class Table:
    """Reads one TOML table strictly: typed lookups, then ``done()`` rejects leftovers.

    ``known``: every key the table may hold; anything else is refused at once, listing them.
    """

    def __init__(self, data: Any, where: str, known: Collection[str] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a table, got {describe(data)}")
        self.where = where
        self.origin = where  # ``where`` as built, before a parser adds to it (a source's name)
        self._data = dict(data)
        self._asked: set[str] = set()
        if known is not None:
            self._asked.update(known)
            self._reject_unknown(set(self._data) - set(known))

    # -- plumbing ---------------------------------------------------------------------------

    def path(self, key: str) -> str:
        """The key's path for an error message, e.g. ``config.toml [sla].target_hours``."""
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        """Whether the table sets ``key`` (and has not been read yet)."""
        self._asked.add(key)
        return key in self._data

    def unread(self) -> list[str]:
        """The keys not read yet, sorted."""
        return sorted(self._data)

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as TOML gave it (for shapes the typed lookups do not cover)."""
        self._asked.add(key)
        return self._data.pop(key, default)

    def _take(self, key: str, kind: type[T] | tuple[type, ...], default: Any, expected: str) -> Any:
        self._asked.add(key)
        if key not in self._data:
            if default is REQUIRED:
                for typo in self._data:
                    if typo not in self._asked and _closest(typo, [key]):
                        raise ConfigError(_unknown(typo, self.origin, key))
                raise ConfigError(f"{self.where}: missing key {key!r} ({expected})")
            return default
        value = self._data.pop(key)
        # bool is an int in Python; a TOML `true` must not pass as a number.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{self.path(key)}: expected {expected}, got {describe(value)}")
        return value

    def _reject_unknown(self, unknown: Collection[str]) -> None:
        if not unknown:
            return
        keys = sorted(unknown)
        for key in keys:
            meant = _closest(key, self._asked)
            if meant is not None:
                raise ConfigError(_unknown(key, self.origin, meant))
        known = ", ".join(sorted(self._asked)) or "none"
        listed = ", ".join(map(repr, keys))
        raise ConfigError(
            f"unknown key{'s' if len(keys) > 1 else ''} {listed} in {self.origin} (known: {known})"
        )

    def done(self) -> None:
        """Refuse every key that no lookup read."""
        self._reject_unknown(set(self._data))

    # -- scalars ----------------------------------------------------------------------------

    def text(
        self,
        key: str,
        default: str | _Required = REQUIRED,
        *,
        pattern: str | None = None,
        nonempty: bool = False,
        strip: bool = False,
    ) -> str:
        """A string. ``strip`` trims it and, like ``nonempty``, refuses an empty one;
        ``pattern`` must match all of it (a default is taken as it is)."""
        expected = "a non-empty string" if nonempty or strip else "a string"
        if key not in self._data:
            result: str = self._take(key, str, default, expected)
            return result
        value: str = self._take(key, str, default, expected)
        if strip:
            value = value.strip()
        if (nonempty or strip) and not value:
            raise ConfigError(f"{self.path(key)}: expected {expected}, got {describe(value)}")
        if pattern and not re.fullmatch(pattern, value):
            raise ConfigError(f"{self.path(key)}: {value!r} does not match {pattern}")
        return value

    def optional_text(
        self, key: str, *, pattern: str | None = None, nonempty: bool = False, strip: bool = False
    ) -> str | None:
        """Like ``text``, but None when the key is absent."""
        if not self.has(key):
            return None
        return self.text(key, pattern=pattern, nonempty=nonempty, strip=strip)

    def flag(self, key: str, default: bool | _Required = REQUIRED) -> bool:
        """true or false."""
        result: bool = self._take(key, bool, default, "true or false")
        return result

    def integer(
        self, key: str, default: int | _Required = REQUIRED, *, low: int = 0, high: int = 10**9
    ) -> int:
        """An integer within ``low..high``."""
        value: int = self._take(key, int, default, "an integer")
        if not low <= value <= high:
            raise ConfigError(f"{self.path(key)}: {value} is out of range {low}..{high}")
        return value

    def number(
        self,
        key: str,
        default: float | _Required = REQUIRED,
        *,
        low: float = 0.0,
        high: float = math.inf,
    ) -> float:
        """A number (an integer is fine) of at least ``low`` (and at most ``high`` if given)."""
        value = self._take(key, (int, float), default, "a number")
        if math.isnan(value) or not low <= value <= high:
            if high == math.inf:
                raise ConfigError(f"{self.path(key)}: {value} must be at least {low}")
            raise ConfigError(f"{self.path(key)}: {value} is out of range {low:g}..{high:g}")
        return float(value)

    def choice(self, key: str, options: Sequence[str], default: str | _Required = REQUIRED) -> str:
        """One of ``options``."""
        value = self.text(key, default)
        if value not in options:
            raise ConfigError(
                f"{self.path(key)}: {value!r} is not one of {', '.join(map(repr, options))}"
            )
        return value

    def clock(self, key: str, default: str) -> time:
        """A time of day written "HH:MM" (24-hour)."""
        self._asked.add(key)
        return parse_clock(self._data.pop(key, default), self.path(key))

    def dates(self, key: str) -> frozenset[date]:
        """An array of dates (TOML dates or "YYYY-MM-DD" strings); absent means none."""
        value = self.raw(key, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(
                f"{self.path(key)}: expected an array of dates, got {describe(value)}"
            )
        return frozenset(parse_date(item, f"{self.path(key)}[{i}]") for i, item in enumerate(value))

    # -- nested tables ----------------------------------------------------------------------

    def table(self, key: str, where: str, known: Collection[str] | None = None) -> Table:
        """The sub-table ``key`` (empty when absent), reported as ``where``."""
        return Table(self.raw(key, {}), where, known)

    def tables(
        self, key: str, where: str, item: str, known: Collection[str] | None = None
    ) -> Iterator[Table]:
        """The array of tables ``key`` (``[[key]]``; none when absent), reported as ``where``;
        each item is reported as ``item`` with ``{n}`` replaced by its number, counted from 1."""
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array of tables, got {describe(value)}")
        for n, entry in enumerate(value, start=1):
            yield Table(entry, item.replace("{n}", str(n)), known)


def _closest(key: str, candidates: Collection[str]) -> str | None:
    """The candidate ``key`` was most likely meant to be (a typo: difflib's ratio >= 0.75)."""
    found = difflib.get_close_matches(key, sorted(candidates), n=1, cutoff=0.75)
    return found[0] if found else None


def _unknown(key: str, where: str, meant: str) -> str:
    return f"unknown key {key!r} in {where}; did you mean {meant!r}?"


def parse_clock(value: Any, path: str) -> time:
    """``"HH:MM"`` -> time; ``path`` names the value in the error."""
    if not isinstance(value, str) or not (match := _HHMM.fullmatch(value)):
        raise ConfigError(f'{path}: expected "HH:MM" (24-hour), got {describe(value)}')
    return time(int(match[1]), int(match[2]))


def parse_date(value: Any, path: str) -> date:
    """A TOML date or an ISO ``"YYYY-MM-DD"`` string -> date; ``path`` names it in the error."""
    if isinstance(value, datetime):
        raise ConfigError(f"{path}: expected a date, got a date-time {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(
        f'{path}: expected a date (2026-12-31 or "2026-12-31"), got {describe(value)}'
    )


# tomllib's messages, said plainly (the rest are shown as tomllib words them)
_PLAIN_TOML = (
    (r"Illegal character '\\n'", "the line ends inside a quoted string: close it with its quote"),
    (r"Unterminated string", "a quoted string is not closed"),
    (r"Expected '=' after a key in a key/value pair", "expected `key = value` here"),
    (r"Invalid value", "this value is not a TOML value (text needs quotes)"),
    (
        r"Expected newline or end of document after a statement",
        "something follows the value on this line (text needs quotes, a comment starts with #)",
    ),
    (r"Invalid statement", "this line is neither `key = value` nor a [table] header"),
    (r"Cannot overwrite a value", "this key is set twice"),
    (r"Cannot declare .* twice", "this table is declared twice"),
    (r"Expected ']' at the end of a table declaration", "a [table] header lacks its `]`"),
    (r"Expected ']]' at the end of an array declaration", "a [[table]] header lacks its `]]`"),
    (r"Unclosed array", "a list [ ... ] is not closed"),
    (r"Unclosed inline table", "an inline table { ... } is not closed"),
    (r"Invalid date or datetime", "not a valid date (write 2026-12-31)"),
    (r"Invalid initial character for a key part", "a key may only hold A-Z a-z 0-9 _ -"),
)
_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


def syntax_error(path: object, text: str, message: str) -> str:
    """A TOML syntax error for a person: the file, line and column, what is wrong in plain
    words, and the line itself with a caret under the column."""
    found = _WHERE.search(message)
    what = message[: found.start()] if found else message
    for pattern, plain in _PLAIN_TOML:
        if re.fullmatch(pattern, what):
            what = plain
            break
    lines = text.splitlines()
    if found is None or found.group(1) is None:
        return f"{path}, at the end: not valid TOML: {what}"
    line, column = int(found.group(1)), int(found.group(2))
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    shown = shown.expandtabs(1)[:200]
    caret = " " * (min(column, len(shown) + 1) - 1) + "^"
    return f"{path}, line {line}, column {column}: not valid TOML: {what}\n    {shown}\n    {caret}"
