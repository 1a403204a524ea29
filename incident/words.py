"""Counts, numbers and dates in words, through Babel's CLDR data: one helper for every count a
person reads (the web app, exports, reports, notifications, the command line).

Russian nouns take three forms after a number (1 обращение, 2 обращения, 5 обращений; and 1,5
часа for a fraction), English two; which one a number takes is CLDR's plural rule for the
locale, not a rule written here. Numbers are written the Russian way (1 234, 1,5).
"""

from __future__ import annotations

from datetime import date

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

__all__ = [
    "APPEALS",
    "CHARACTERS",
    "COMMUNITIES",
    "DAYS",
    "HOURS",
    "INCIDENTS",
    "MOVES",
    "REDIRECTS",
    "SIMILAR",
    "Forms",
    "count",
    "count_en",
    "month_title",
    "number",
    "plural",
]

RU = Locale("ru")
EN = Locale("en")

# A Russian noun's forms after a number: (1 "обращение", 2 "обращения", 5 "обращений").
Forms = tuple[str, str, str]

# The nouns counted in more than one place.
APPEALS: Forms = ("обращение", "обращения", "обращений")
SIMILAR: Forms = ("похожее", "похожих", "похожих")  # «+1 похожее», «+3 похожих»
COMMUNITIES: Forms = ("сообщество", "сообщества", "сообществ")
INCIDENTS: Forms = ("инцидент", "инцидента", "инцидентов")
MOVES: Forms = (
    "перевод в личные сообщения",
    "перевода в личные сообщения",
    "переводов в личные сообщения",
)
REDIRECTS: Forms = ("перенаправление", "перенаправления", "перенаправлений")
DAYS: Forms = ("день", "дня", "дней")
HOURS: Forms = ("час", "часа", "часов")
CHARACTERS: Forms = ("символ", "символа", "символов")


def plural(n: float, forms: Forms) -> str:
    """The form of the noun that goes after ``n`` (CLDR's rule: one, few, many, other)."""
    one, few, many = forms
    category = RU.plural_form(abs(n))
    if category == "one":
        return one
    if category == "many":
        return many
    return few  # "few", and "other" (fractions: 1,5 часа) takes the same genitive singular


def number(n: float) -> str:
    """``n`` written the Russian way: 1 234 and 1,5 (a non-breaking space between groups)."""
    return format_decimal(n, locale=RU)


def count(n: float, forms: Forms) -> str:
    """``n`` with its noun: ``count(21, ("сообщество", "сообщества", "сообществ"))`` is
    "21 сообщество"."""
    return f"{number(n)} {plural(n, forms)}"


def count_en(n: int, one: str, other: str) -> str:
    """For the administrators' English lines: "1 reply", "2 replies"."""
    return f"{n} {one if EN.plural_form(abs(n)) == 'one' else other}"


def month_title(year: int, month: int) -> str:
    """The month as a heading says it: "октябрь 2026"."""
    return format_date(date(year, month, 1), "LLLL y", locale=RU)
