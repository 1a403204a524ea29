"""Reply templates: load and validate ``replies/``, rank drafts for a verdict, check wording.

``replies/*.toml`` hold ``[[reply]]`` tables::

    [[reply]]
    id = "telecom-answer"
    topics = ["telecom"]          # topic ids, or ["*"] for every topic in competence
    kind = "answer"               # answer | move-to-private | redirect | thanks | clarify
    reason = "personal-data"      # move-to-private only: personal-data | documents | formal-appeal
    redirect = "roads"            # redirect only: the sub-theme id of rules/other.toml
    when = ["question"]           # optional: verdict flags that make this reply fit better
    urgent = false                # true: offered first when the comment is urgent
    rating_link = false           # true: the sent reply carries the «оцените ответ» link
    text = "{greeting} ..."       # placeholders in braces, see PLACEHOLDERS

``replies/_platforms.toml`` gives each platform's length limit in characters. Every problem is
reported with its file and key; loading fails if there is any.
"""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path
from typing import Any

from incident.models import ReplyKind
from incident.replies.model import (
    KINDS,
    PLACEHOLDERS,
    PLATFORMS_FILE,
    PRIVATE_REASONS,
    Catalog,
    RepliesError,
    ReplyTemplate,
)
from incident.rules import RuleSet

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


def _placeholders(text: str) -> tuple[set[str], str | None]:
    names: set[str] = set()
    try:
        for _, name, spec, conv in string.Formatter().parse(text):
            if name is None:
                continue
            if not name or spec or conv:
                return (
                    names,
                    f"подстановка {{{name}}} должна быть простым именем, например {{hotline}}",
                )
            names.add(name)
    except ValueError as exc:
        return names, f"непарные фигурные скобки: {exc}"
    return names, None


def _load_limits(path: Path, problems: list[str]) -> dict[str, int]:
    if not path.exists():
        problems.append(f"{path.name}: -: файла нет: в нём ограничения длины ответа по площадкам")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        problems.append(f"{path.name}: -: не удалось прочитать: {exc}")
        return {}
    raw = data.get("limits")
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{path.name}: limits: должен быть таблицей вида площадка = число знаков")
        return {}
    limits: dict[str, int] = {}
    for platform, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 100:
            problems.append(
                f"{path.name}: limits.{platform}: должно быть целым числом не меньше 100"
            )
            continue
        limits[platform] = value
    for key in sorted(set(data) - {"limits"}):
        problems.append(f"{path.name}: {key}: неизвестный ключ")
    return limits


_REPLY_KEYS = {
    "id",
    "topics",
    "kind",
    "text",
    "reason",
    "redirect",
    "when",
    "urgent",
    "rating_link",
}
_FLAGS = frozenset({"question", "complaint", "thanks", "urgent", "abusive", "flood"})


def _load_reply(
    item: Any, where: str, name: str, ruleset: RuleSet, problems: list[str]
) -> ReplyTemplate | None:
    def bad(key: str, what: str) -> None:
        problems.append(f"{name}: {where}.{key}: {what}")

    if not isinstance(item, dict):
        bad("-", "должен быть таблицей")
        return None
    for key in sorted(set(item) - _REPLY_KEYS):
        bad(key, "неизвестный ключ")
    rid = item.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        bad("id", "нужен латинский идентификатор строчными буквами, например 'telecom-answer'")
        return None
    where = f"{where}({rid})"
    kind = item.get("kind")
    if kind not in KINDS:
        bad("kind", f"должен быть одним из: {', '.join(KINDS)}")
        return None
    topics = item.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        bad("topics", 'должен быть непустым списком тем или ["*"]')
        return None
    for topic in topics:
        if topic != "*" and topic not in ruleset.topics:
            bad("topics", f"нет такой темы {topic!r}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        bad("text", "нужен непустой текст ответа")
        return None
    names, error = _placeholders(text)
    if error:
        bad("text", error)
    for unknown in sorted(names - set(PLACEHOLDERS)):
        bad("text", f"нет такой подстановки {{{unknown}}}; есть: {', '.join(PLACEHOLDERS)}")
    reason = item.get("reason")
    if kind == ReplyKind.MOVE_TO_PRIVATE:
        if reason not in PRIVATE_REASONS:
            bad(
                "reason",
                f"приглашению в личные сообщения нужна причина: {', '.join(PRIVATE_REASONS)}",
            )
    elif reason is not None:
        bad("reason", "причина бывает только у приглашения в личные сообщения")
    redirect = item.get("redirect")
    known_redirects = {r.id for t in ruleset.topics.values() for r in t.redirects}
    if kind == ReplyKind.REDIRECT:
        if redirect not in known_redirects:
            bad(
                "redirect",
                "должен быть одним из перенаправлений правил: "
                + ", ".join(sorted(known_redirects)),
            )
    elif redirect is not None:
        bad("redirect", "перенаправление указывают только ответы вида redirect")
    when = item.get("when", [])
    if not isinstance(when, list) or not all(w in _FLAGS for w in when):
        bad("when", f"должен быть списком признаков: {', '.join(sorted(_FLAGS))}")
        when = []
    urgent = item.get("urgent", False)
    if not isinstance(urgent, bool):
        bad("urgent", "должно быть true или false")
        urgent = False
    rating_link = item.get("rating_link", False)
    if not isinstance(rating_link, bool):
        bad("rating_link", "должно быть true или false")
        rating_link = False
    return ReplyTemplate(
        id=rid,
        topics=tuple(topics),
        kind=kind,
        text=text.strip(),
        placeholders=frozenset(names),
        reason=reason if isinstance(reason, str) else None,
        redirect=redirect if isinstance(redirect, str) else None,
        when=frozenset(when),
        urgent=urgent,
        source=name,
        rating_link=rating_link,
    )


def load_replies(directory: Path, ruleset: RuleSet) -> Catalog:
    """Read ``replies/``; check it against ``ruleset``; raise ``RepliesError`` on any problem."""
    problems: list[str] = []
    if not directory.is_dir():
        raise RepliesError([f"{directory}: -: это не каталог"])
    limits = _load_limits(directory / PLATFORMS_FILE, problems)
    replies: dict[str, ReplyTemplate] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name.startswith("_"):
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            problems.append(f"{path.name}: -: файл не читается как TOML: {exc}")
            continue
        for key in sorted(set(data) - {"reply"}):
            problems.append(
                f"{path.name}: {key}: неизвестный ключ (ответы пишутся таблицами [[reply]])"
            )
        items = data.get("reply", [])
        if not isinstance(items, list):
            problems.append(f"{path.name}: reply: должен быть списком таблиц [[reply]]")
            continue
        for i, item in enumerate(items):
            reply = _load_reply(item, f"reply[{i}]", path.name, ruleset, problems)
            if reply is None:
                continue
            if reply.id in replies:
                problems.append(f"{path.name}: reply[{i}].id: ответ {reply.id!r} описан дважды")
                continue
            replies[reply.id] = reply
    # The rules and the replies must agree.
    for topic in ruleset.topics.values():
        for rid in topic.replies:
            if rid not in replies:
                problems.append(f"{topic.source.name}: replies: нет шаблона ответа {rid!r}")
        if topic.in_competence and not any(
            r.kind == ReplyKind.ANSWER and topic.id in r.topics for r in replies.values()
        ):
            problems.append(f"{topic.source.name}: replies: у темы нет ответа вида 'answer'")
        for redirect in topic.redirects:
            if not any(r.redirect == redirect.id for r in replies.values()):
                problems.append(
                    f"{topic.source.name}: redirect.{redirect.id}: "
                    "нет ответа, который перенаправляет сюда"
                )
    for reason in PRIVATE_REASONS:
        if not any(r.reason == reason for r in replies.values()):
            problems.append(f"replies: -: нет приглашения в личные сообщения с причиной {reason!r}")
    for reply in replies.values():
        for platform, limit in limits.items():
            longest = len(reply.text) + 200 * len(reply.placeholders)
            if longest > limit:
                problems.append(
                    f"{reply.source}: {reply.id}: может не уложиться в ограничение {platform} "
                    f"({limit} знаков): {longest} с длинными подстановками"
                )
    if problems:
        raise RepliesError(problems)
    return Catalog(replies=replies, limits=limits, rules=ruleset)
