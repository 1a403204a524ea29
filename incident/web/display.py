"""Showing untrusted text and times safely: Jinja filters and helpers; titles and links of
platforms come from the sources registry.

Comment text is untrusted. Autoescaping takes care of HTML; here we also drop the invisible
characters that can reorder or hide text (bidi overrides, zero-width spaces), and build the
highlighted verdict text from escaped pieces only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from incident.models import (
    ACTOR_LABELS,
    TOPIC_LABELS,
    UNCLASSIFIED,
    ReplyKind,
    closed_reason_label,
)
from incident.sources.registry import PLATFORMS, title
from incident.users import Role
from incident.words import count

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
    "answered": "ответил(а) в комментариях на площадке",
    "follow_up": "автор написал ещё",
    "reopened_by_follow_up": "открыт снова: автор написал после ответа",
    "edited_by_author": "автор изменил комментарий",
    "deleted_by_author": "автор удалил комментарий",
    "restored_by_author": "автор восстановил комментарий",
    "reclassified": "тема определена заново",
    "sla_warn": "срок ответа скоро истечёт",
    "sla_breach": "срок ответа истёк",
    "sla_notification_failed": "уведомление о сроке не доставлено",
    "user_renamed": "имя изменено",
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


def person_name(login: str | None, names: Mapping[str, str]) -> str:
    """Who acted, as people know them: an account's display name, the automatic actors' Russian
    labels, else the login itself; "—" for nobody."""
    if not login:
        return "—"
    return names.get(login) or ACTOR_LABELS.get(login) or login


@pass_context
def person(context: Context, login: str | None) -> str:
    """``person_name`` with the page's display names (``names`` in the page's context)."""
    return person_name(login, context.get("names") or {})


def _topic(value: Any) -> str:
    code = str(value or UNCLASSIFIED)
    return f"«{TOPIC_LABELS.get(code, clean(code)[:60])}»"


def _value(value: Any) -> str:
    return clean(str(value))[:200]


_EDITS = ("правка", "правки", "правок")


def event_text(action: str, details: Any, names: Mapping[str, str]) -> str:
    """An audit event's details in plain Russian, for the history and the audit log; ids and
    codes nobody reads (outbox rows, notes, comment ids, rules versions) are left out."""
    if not isinstance(details, Mapping) or not details:
        return ""
    d = dict(details)
    parts: list[str] = []
    if action == "opened" and d.get("topic") is not None:
        parts.append(f"тема {_topic(d['topic'])}")
    elif action == "claimed" and d.get("taken_from"):
        parts.append(f"перехватил(а) у {person_name(d['taken_from'], names)}")
    elif action == "closed_no_answer" and d.get("reason"):
        parts.append(f"причина: {closed_reason_label(str(d['reason']))}")
    elif action in ("topic_changed", "reclassified"):
        old = d.get("old", d.get("was"))
        new = d.get("new", d.get("topic"))
        parts.append(f"тема {_topic(old)} → {_topic(new)}")
    elif action == "assigned":
        old, new = d.get("old"), d.get("new")
        was = person_name(old, names) if old else "никто"
        parts.append(f"{was} → {person_name(new, names) if new else 'никто'}")
    elif action == "edited_by_author" and isinstance(d.get("edits"), int):
        parts.append(count(d["edits"], _EDITS))
    elif action in ("deleted_by_author", "restored_by_author"):
        if d.get("status_changed"):
            parts.append("инцидент закрыт" if action == "deleted_by_author" else "инцидент открыт")
    elif action == "reopened_by_follow_up" and d.get("previous"):
        parts.append(f"прежний инцидент №{_value(d['previous'])}")
    elif action == "reply_sent" and d.get("kind"):
        try:
            parts.append(ReplyKind(str(d["kind"])).label)
        except ValueError:
            parts.append(_value(d["kind"]))
    elif action == "reply_posted" and d.get("by"):
        parts.append(f"отправил(а) {person_name(str(d['by']), names)}")
    elif action == "reply_failed" and d.get("reason"):
        parts.append(f"причина: {_value(d['reason'])}")
    elif action in ("login", "login_failed") and d.get("address"):
        parts.append(f"адрес {_value(d['address'])}")
    elif action.startswith("user_") and d.get("user"):
        parts.append(f"пользователь {person_name(str(d['user']), names)}")
        if d.get("role"):
            try:
                parts.append(f"роль: {Role(str(d['role'])).label}")
            except ValueError:
                parts.append(f"роль: {_value(d['role'])}")
        if d.get("name"):
            parts.append(f"имя: {_value(d['name'])}")
    elif action == "sla_notification_failed" and isinstance(d.get("failed"), Mapping):
        channels = {"telegram": "Telegram", "email": "электронная почта"}
        parts.append("не доставлено: " + ", ".join(channels.get(k, _value(k)) for k in d["failed"]))
    return "; ".join(parts)


@pass_context
def event_details(context: Context, event: Any) -> str:
    """``event_text`` of an audit row (``action``, ``details``) with the page's names."""
    return event_text(event.action, event.details, context.get("names") or {})


def reason_label(reason: str | None) -> str:
    """A stored close reason in plain Russian."""
    return closed_reason_label(reason)


def slash_templates(drafts: Any, kind_titles: Mapping[str, str]) -> list[dict[str, str]]:
    """The reply templates the editor offers after ``/``: each draft's kind in Russian, a short
    label and its text (the page keeps them as JSON data; the script searches label and text)."""
    out: list[dict[str, str]] = []
    for d in drafts:
        out.append(
            {
                "title": kind_titles.get(str(d.kind), "ответ"),
                "label": first_line(d.text, 70),
                "text": d.text,
                "kind": str(d.kind),
                "reply_id": d.reply_id,
            }
        )
    return out


MODEL_CHANGES = {
    "filled": "правила тему не определили, её предложила модель",
    "tie": "у правил две темы почти поровну, выбрала модель",
    "override": "модель уверенно выбрала другую тему, чем правила",
}


def model_note(note: Any, title: Callable[[str | None], str]) -> dict[str, Any] | None:
    """What the card says of the learned model's part in a stored verdict, or None: its
    version, its topic (a title), its probability, the words that pushed it (with their spans
    in the text) and, when it changed the rules' topic, how. Anything malformed is left out."""
    if not isinstance(note, Mapping):
        return None
    version, probability = note.get("version"), note.get("probability")
    if not isinstance(version, int) or not isinstance(probability, int | float):
        return None
    words = []
    for w in note.get("words") or []:
        span = w.get("span") if isinstance(w, Mapping) else None
        weight = w.get("weight") if isinstance(w, Mapping) else None
        if (
            isinstance(span, Sequence)
            and len(span) == 2
            and all(isinstance(x, int) for x in span)
            and isinstance(weight, int | float)
            and isinstance(w.get("word"), str)
        ):
            words.append({"word": w["word"][:60], "span": list(span), "weight": float(weight)})
    changed = note.get("changed")
    topic = note.get("topic")
    return {
        "version": version,
        "topic_title": title(topic if isinstance(topic, str) else None),
        "probability": float(probability),
        "words": words,
        "changed": MODEL_CHANGES.get(changed) if isinstance(changed, str) else None,
    }
