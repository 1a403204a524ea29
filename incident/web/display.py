"""Showing untrusted text and times safely: Jinja filters and helpers; titles and links of
platforms come from the sources registry.

Comment text is untrusted. Autoescaping takes care of HTML; here we also drop the invisible
characters that can reorder or hide text (bidi overrides, zero-width spaces), and build the
highlighted verdict text from escaped pieces only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from incident.sources.registry import PLATFORMS, title

MOSCOW = ZoneInfo("Europe/Moscow")

# Bidi embeddings/overrides/isolates and marks, zero-width spaces, BOM, and C0/C1 controls
# other than tab and newline. The zero-width joiner (U+200D) stays: emoji sequences need it.
_INVISIBLE = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u200c\u2060\ufeff"
    "\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
)
_SPACES = re.compile(r"\s+")


def clean(text: str | None) -> str:
    """The text without characters that could hide or reorder what staff see."""
    return _INVISIBLE.sub("", text or "")


def first_line(text: str | None, limit: int = 140) -> str:
    line = _SPACES.sub(" ", clean(text)).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def highlight(text: str, matches: Iterable[Mapping[str, Any]]) -> Markup:
    """``text`` with the matched phrases wrapped in <mark>; every piece escaped.

    Spans index the original text; overlapping or out-of-range spans are skipped.
    """
    spans: list[tuple[int, int, str]] = []
    for m in matches:
        span = m.get("span") if isinstance(m, Mapping) else None
        if not isinstance(span, Sequence) or len(span) != 2:
            continue
        start, end = span
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        if 0 <= start < end <= len(text):
            kind = str(m.get("kind", "positive"))
            spans.append((start, end, kind if kind.isalpha() else "positive"))
    spans.sort()
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            continue
        out.append(str(escape(clean(text[pos:start]))))
        out.append(f'<mark class="m-{kind}">{escape(clean(text[start:end]))}</mark>')
        pos = end
    out.append(str(escape(clean(text[pos:]))))
    return Markup("".join(out))  # noqa: S704 - built from escaped pieces only


def msk(value: datetime | None, fmt: str = "%d.%m %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(MOSCOW).strftime(fmt)


def time_left(due: datetime | None, now: datetime) -> tuple[str, str]:
    """(text, css class) for a deadline: ok, amber (under 2 hours), red (under 30 minutes),
    overdue."""
    if due is None:
        return "без срока", "ok"
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    hours, mins = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        span = f"{days} д {hours} ч"
    elif hours:
        span = f"{hours} ч {mins:02d} м"
    else:
        span = f"{mins} мин"
    if seconds < 0:
        return f"−{span}", "overdue"
    if seconds < 30 * 60:
        return span, "red"
    if seconds < 2 * 3600:
        return span, "amber"
    return span, "ok"


FLAG_TITLES = {
    "complaint": "жалоба",
    "question": "вопрос",
    "urgent": "срочно",
    "thanks": "благодарность",
    "obscene": "мат",
    "abusive": "оскорбления",
    "spam": "спам",
    "flood": "флуд",
    "uncertain": "не уверен",
    "conversation": "разговор пользователей",
}
STATUS_TITLES = {"open": "открыт", "answered": "отвечен", "closed": "закрыт", "all": "все"}
OUTBOX_TITLES = {
    "pending": "ждёт отправки",
    "sending": "отправляется",
    "posted": "опубликован",
    "failed": "ошибка",
}
PLATFORM_TITLES = {name: support.title for name, support in PLATFORMS.items()}
ACTION_TITLES = {
    "opened": "инцидент создан",
    "claimed": "взял(а) в работу",
    "released": "отпустил(а)",
    "reply_queued": "ответ поставлен в очередь",
    "reply_sent": "отправил(а) ответ",
    "reply_posted": "ответ опубликован",
    "reply_failed": "ответ не опубликован",
    "reply_retry": "повтор отправки",
    "closed_no_answer": "закрыт без ответа",
    "reopened": "открыт снова",
    "topic_changed": "тема изменена",
    "topic_confirmed": "тема подтверждена",
    "assigned": "назначен ответственный",
    "note_added": "заметка",
    "answered_on_platform": "ответили на площадке",
    "login": "вход",
    "login_failed": "неудачный вход",
    "user_added": "добавлен пользователь",
    "user_disabled": "пользователь отключён",
    "user_enabled": "пользователь включён",
    "user_password_changed": "пароль изменён",
    "user_role_changed": "роль изменена",
}


def platform_title(platform: str) -> str:
    """The platform's Russian title (its name when it is not registered)."""
    return title(platform)


def safe_link(url: str | None) -> str | None:
    """``url`` when it is a plain http(s) address (nothing else goes into an ``href``)."""
    if url and re.fullmatch(r"https?://[^\s\"'<>]+", url):
        return url
    return None


def platform_badge(platform: str) -> Markup:
    """The platform's badge and its Russian title: a small inline SVG (its letters on its
    colour; decorative, hidden from screen readers) followed by the title as text."""
    support = PLATFORMS.get(platform)
    title = support.title if support is not None else platform
    mark = support.mark if support is not None else (platform[:2].upper() or "?")
    colour = support.colour if support is not None else "#6b7280"
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
        colour = "#6b7280"
    svg = (
        '<svg class="pf-mark" width="22" height="14" viewBox="0 0 22 14" aria-hidden="true" '
        f'focusable="false"><rect width="22" height="14" rx="3" fill="{colour}"/>'
        '<text x="11" y="10.5" text-anchor="middle" font-size="8.5" font-weight="700" '
        f'font-family="sans-serif" fill="#fff">{escape(mark)}</text></svg>'
    )
    name = f'<span class="pf-name">{escape(title)}</span>'
    badge = f'<span class="pf pf-{escape(platform)}">{svg}{name}</span>'
    return Markup(badge)  # noqa: S704 - built from escaped pieces and a checked colour


def original_link(
    platform: str, community: str, post_id: str, comment: str, root: str | None
) -> str | None:
    """A link to the comment on its platform, when we know how to build one."""
    support = PLATFORMS.get(platform)
    return support.comment_link(community, post_id, comment, root) if support else None


def post_link(platform: str, community: str, post_id: str) -> str | None:
    """A link to the post on its platform, when we know how to build one."""
    support = PLATFORMS.get(platform)
    return support.post_link(community, post_id) if support else None


def details_text(details: Any) -> str:
    """A short plain rendering of an audit event's details."""
    if not isinstance(details, Mapping) or not details:
        return ""
    parts = []
    for key, value in details.items():
        if value is None or key in ("outbox_id", "note_id"):
            continue
        parts.append(f"{key}: {clean(str(value))[:200]}")
    return "; ".join(parts)
