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
    text = "{greeting} ..."       # placeholders in braces, see PLACEHOLDERS

``replies/_platforms.toml`` gives each platform's length limit in characters. Every problem is
reported with its file and key; loading fails if there is any.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident.classify import Verdict
from incident.models import UNCLASSIFIED, Platform, ReplyKind
from incident.rules import RuleSet

__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "PRIVATE_REASONS",
    "Catalog",
    "Draft",
    "RepliesError",
    "ReplyContext",
    "ReplyTemplate",
    "load_replies",
    "plain_language_problems",
    "suggest",
]

KINDS = tuple(k.value for k in ReplyKind)
PRIVATE_REASONS = ("personal-data", "documents", "formal-appeal")
PLACEHOLDERS: Mapping[str, str] = {
    "greeting": "«Анна, здравствуйте!» или «Здравствуйте!», если имени нет",
    "author_first_name": "имя автора комментария",
    "community_name": "название сообщества",
    "private_link": "ссылка для личных сообщений",
    "hotline": "телефон горячей линии комитета",
    "gosuslugi_link": "ссылка на подачу обращения через Госуслуги",
    "redirect_body": "куда обратиться (из rules/other.toml)",
    "topic_title": "название темы",
}
PLATFORMS_FILE = "_platforms.toml"

# Plain-language limits for reply templates (measured on the text with sample values).
MAX_CHARS = 600
MAX_SENTENCE_WORDS = 22
LONG_WORD_LETTERS = 14
MAX_LONG_WORD_SHARE = 0.12
OFFICIALESE = (
    "в целях",
    "осуществля",
    "данный",
    "данная",
    "данное",
    "данного",
    "данной",
    "данным",
    "вышеуказанн",
    "вышеизложенн",
    "нижеследующ",
    "в рамках",
    "согласно",
    "в соответствии с",
    "уведомляем",
    "доводим до вашего сведения",
    "настоящим",
    "надлежащ",
    "является",
    "производится",
    "в адрес",
    "обращаем ваше внимание",
    "на основании",
    "в части",
    "в установленном порядке",
)
_SAMPLE = {
    "greeting": "Анна, здравствуйте!",
    "author_first_name": "Анна",
    "community_name": "Комитет по защите прав потребителей",
    "private_link": "https://vk.me/club123456",
    "hotline": "8 (800) 000-00-00",
    "gosuslugi_link": "https://www.gosuslugi.ru/",
    "redirect_body": "дорожная служба администрации города",
    "topic_title": "Связь, интернет, ТВ, почта и посылки",
}
_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_SENTENCE_RE = re.compile(r"[^.!?…]+")
_WORD_RE = re.compile(r"[^\W\d_]+")


class RepliesError(Exception):
    """The reply files are invalid; ``problems`` lists each one as 'file: key: what'."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class ReplyTemplate:
    id: str
    topics: tuple[str, ...]
    kind: str
    text: str
    placeholders: frozenset[str]
    reason: str | None = None
    redirect: str | None = None
    when: frozenset[str] = frozenset()
    urgent: bool = False
    source: str = ""

    def fits(self, topic: str) -> bool:
        return topic in self.topics or "*" in self.topics


@dataclass(frozen=True, slots=True)
class Catalog:
    replies: Mapping[str, ReplyTemplate]
    limits: Mapping[str, int]  # platform -> max characters in one reply
    rules: RuleSet = field(repr=False, compare=False)

    def limit(self, platform: str) -> int | None:
        return self.limits.get(platform)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the drafts are filled with. Missing values make the drafts needing them drop out."""

    platform: str = Platform.VK.value
    community_name: str | None = None
    author_first_name: str | None = None
    private_link: str | None = None
    hotline: str | None = None
    gosuslugi_link: str | None = "https://www.gosuslugi.ru/"

    def values(self) -> dict[str, str | None]:
        name = (self.author_first_name or "").strip() or None
        return {
            "greeting": f"{name}, здравствуйте!" if name else "Здравствуйте!",
            "author_first_name": name,
            "community_name": self.community_name,
            "private_link": self.private_link,
            "hotline": self.hotline,
            "gosuslugi_link": self.gosuslugi_link,
        }


@dataclass(frozen=True, slots=True)
class Draft:
    """A rendered reply, ready for staff to edit and send. Higher ``rank`` goes first."""

    reply_id: str
    kind: str
    text: str
    rank: float
    why: tuple[str, ...]  # why it was ranked where it is, in plain Russian
    missing: tuple[str, ...] = ()  # placeholders the context lacked: shown as [марка] in text

    def to_json(self) -> dict[str, Any]:
        return {
            "reply_id": self.reply_id,
            "kind": self.kind,
            "text": self.text,
            "rank": self.rank,
            "why": list(self.why),
            "missing": list(self.missing),
        }


# --------------------------------------------------------------------------- loading


def _placeholders(text: str) -> tuple[set[str], str | None]:
    names: set[str] = set()
    try:
        for _, name, spec, conv in string.Formatter().parse(text):
            if name is None:
                continue
            if not name or spec or conv:
                return names, f"placeholder {{{name}}} must be a plain name like {{hotline}}"
            names.add(name)
    except ValueError as exc:
        return names, f"broken braces: {exc}"
    return names, None


def _load_limits(path: Path, problems: list[str]) -> dict[str, int]:
    if not path.exists():
        problems.append(f"{path.name}: -: missing: platform length limits live here")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        problems.append(f"{path.name}: -: cannot read: {exc}")
        return {}
    raw = data.get("limits")
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{path.name}: limits: must be a table of platform = characters")
        return {}
    limits: dict[str, int] = {}
    for platform, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 100:
            problems.append(f"{path.name}: limits.{platform}: must be a whole number >= 100")
            continue
        limits[platform] = value
    for key in sorted(set(data) - {"limits"}):
        problems.append(f"{path.name}: {key}: unknown key")
    return limits


_REPLY_KEYS = {"id", "topics", "kind", "text", "reason", "redirect", "when", "urgent"}
_FLAGS = frozenset({"question", "complaint", "thanks", "urgent", "abusive", "flood"})


def _load_reply(
    item: Any, where: str, name: str, ruleset: RuleSet, problems: list[str]
) -> ReplyTemplate | None:
    def bad(key: str, what: str) -> None:
        problems.append(f"{name}: {where}.{key}: {what}")

    if not isinstance(item, dict):
        bad("-", "must be a table")
        return None
    for key in sorted(set(item) - _REPLY_KEYS):
        bad(key, "unknown key")
    rid = item.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        bad("id", "must be a lower-case id like 'telecom-answer'")
        return None
    where = f"{where}({rid})"
    kind = item.get("kind")
    if kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}")
        return None
    topics = item.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        bad("topics", 'must be a non-empty list of topic ids or ["*"]')
        return None
    for topic in topics:
        if topic != "*" and topic not in ruleset.topics:
            bad("topics", f"unknown topic {topic!r}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        bad("text", "must be a non-empty string")
        return None
    names, error = _placeholders(text)
    if error:
        bad("text", error)
    for unknown in sorted(names - set(PLACEHOLDERS)):
        bad("text", f"unknown placeholder {{{unknown}}}; known: {', '.join(PLACEHOLDERS)}")
    reason = item.get("reason")
    if kind == "move-to-private":
        if reason not in PRIVATE_REASONS:
            bad("reason", f"move-to-private needs a reason: {', '.join(PRIVATE_REASONS)}")
    elif reason is not None:
        bad("reason", "only move-to-private replies have a reason")
    redirect = item.get("redirect")
    known_redirects = {r.id for t in ruleset.topics.values() for r in t.redirects}
    if kind == "redirect":
        if redirect not in known_redirects:
            bad(
                "redirect",
                f"must be a redirect id of the rules: {', '.join(sorted(known_redirects))}",
            )
    elif redirect is not None:
        bad("redirect", "only redirect replies name a redirect")
    when = item.get("when", [])
    if not isinstance(when, list) or not all(w in _FLAGS for w in when):
        bad("when", f"must be a list of flags: {', '.join(sorted(_FLAGS))}")
        when = []
    urgent = item.get("urgent", False)
    if not isinstance(urgent, bool):
        bad("urgent", "must be true or false")
        urgent = False
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
    )


def load_replies(directory: Path, ruleset: RuleSet) -> Catalog:
    """Read ``replies/``; check it against ``ruleset``; raise ``RepliesError`` on any problem."""
    problems: list[str] = []
    if not directory.is_dir():
        raise RepliesError([f"{directory}: -: not a directory"])
    limits = _load_limits(directory / PLATFORMS_FILE, problems)
    replies: dict[str, ReplyTemplate] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name.startswith("_"):
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            problems.append(f"{path.name}: -: not valid TOML: {exc}")
            continue
        for key in sorted(set(data) - {"reply"}):
            problems.append(f"{path.name}: {key}: unknown key (use [[reply]] tables)")
        items = data.get("reply", [])
        if not isinstance(items, list):
            problems.append(f"{path.name}: reply: must be [[reply]] tables")
            continue
        for i, item in enumerate(items):
            reply = _load_reply(item, f"reply[{i}]", path.name, ruleset, problems)
            if reply is None:
                continue
            if reply.id in replies:
                problems.append(f"{path.name}: reply[{i}].id: {reply.id!r} is defined twice")
                continue
            replies[reply.id] = reply
    # The rules and the replies must agree.
    for topic in ruleset.topics.values():
        for rid in topic.replies:
            if rid not in replies:
                problems.append(f"{topic.source.name}: replies: no reply template {rid!r}")
        if topic.in_competence and not any(
            r.kind == "answer" and topic.id in r.topics for r in replies.values()
        ):
            problems.append(f"{topic.source.name}: replies: topic has no 'answer' reply")
        for redirect in topic.redirects:
            if not any(r.redirect == redirect.id for r in replies.values()):
                problems.append(
                    f"{topic.source.name}: redirect.{redirect.id}: no redirect reply for it"
                )
    for reason in PRIVATE_REASONS:
        if not any(r.reason == reason for r in replies.values()):
            problems.append(f"replies: -: no move-to-private reply with reason {reason!r}")
    for reply in replies.values():
        for platform, limit in limits.items():
            longest = len(reply.text) + 200 * len(reply.placeholders)
            if longest > limit:
                problems.append(
                    f"{reply.source}: {reply.id}: may exceed the {platform} limit of {limit} "
                    f"characters ({longest} with long placeholder values)"
                )
    if problems:
        raise RepliesError(problems)
    return Catalog(replies=replies, limits=limits, rules=ruleset)


# --------------------------------------------------------------------------- wording


def sample_render(reply: ReplyTemplate) -> str:
    return reply.text.format_map(_SAMPLE)


def plain_language_problems(reply: ReplyTemplate) -> list[str]:
    """What makes this template hard to read, each with the figure measured."""
    text = sample_render(reply)
    problems: list[str] = []
    if len(text) > MAX_CHARS:
        problems.append(f"слишком длинный текст: {len(text)} знаков (предел {MAX_CHARS})")
    prose = re.sub(r"https?://\S+", "ссылка", text)
    for sentence in _SENTENCE_RE.findall(prose):
        words = _WORD_RE.findall(sentence)
        if len(words) > MAX_SENTENCE_WORDS:
            start = " ".join(words[:5])
            problems.append(
                f"длинное предложение «{start}…»: {len(words)} слов (предел {MAX_SENTENCE_WORDS})"
            )
    words = _WORD_RE.findall(prose)
    if words:
        long_words = [w for w in words if len(w) >= LONG_WORD_LETTERS]
        share = len(long_words) / len(words)
        if share > MAX_LONG_WORD_SHARE:
            problems.append(
                f"много длинных слов: {share:.0%} слов из {LONG_WORD_LETTERS}+ букв "
                f"(предел {MAX_LONG_WORD_SHARE:.0%}): {', '.join(long_words[:3])}"
            )
    lowered = f" {prose.lower().replace('ё', 'е')} "
    for phrase in OFFICIALESE:
        if re.search(rf"(?<!\w){re.escape(phrase)}", lowered):
            problems.append(f"канцелярит: «{phrase}»")
    return problems


# --------------------------------------------------------------------------- ranking


def _render(reply: ReplyTemplate, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """The text with values filled in; a missing value shows as a [marker] for staff to fill."""
    filled: dict[str, str] = {}
    missing: list[str] = []
    for name in sorted(reply.placeholders):
        value = values.get(name)
        if value is None:
            missing.append(name)
            value = f"[{PLACEHOLDERS[name]}]"
        filled[name] = value
    return reply.text.format_map(filled), missing


def suggest(verdict: Verdict, catalog: Catalog, context: ReplyContext | None = None) -> list[Draft]:
    """Reply drafts for ``verdict``, best first.

    Spam gets none. A value the context lacks (say, ``{private_link}``) shows as a marker in
    brackets and is listed in ``Draft.missing``; such drafts rank a little lower. Drafts
    longer than the platform's limit are left out.
    """
    context = context or ReplyContext()
    if verdict.topic == "spam":
        return []
    topic = catalog.rules.topics.get(verdict.topic)
    values = dict(context.values())
    values["topic_title"] = topic.title if topic else None
    bodies = {r.id: r.body for t in catalog.rules.topics.values() for r in t.redirects}
    limit = catalog.limit(context.platform)
    listed = topic.replies if topic else ()
    drafts: list[Draft] = []
    for reply in catalog.replies.values():
        why: list[str] = []
        rank = 0.0
        if verdict.topic == UNCLASSIFIED:
            if (
                reply.kind not in ("clarify", "move-to-private", "thanks")
                or "*" not in reply.topics
            ):
                continue
        elif topic is None or not topic.in_competence:
            if reply.id not in listed and not (
                reply.fits(verdict.topic) and "*" not in reply.topics
            ):
                continue
        elif not reply.fits(verdict.topic):
            continue
        if reply.id in listed:
            rank += 10 - listed.index(reply.id) * 0.5
            why.append("предложен правилами темы")
        if verdict.topic in reply.topics:
            rank += 3
        if reply.kind == "redirect":
            if reply.redirect == verdict.redirect:
                rank += 30
                why.append("вопрос не в компетенции комитета: подскажите, куда обратиться")
            else:
                rank -= 5
        if reply.urgent:
            if "urgent" in verdict.flags:
                rank += 25
                why.append("срочно: угроза здоровью или жизни")
            else:
                rank -= 3
        if reply.kind == "thanks":
            if "thanks" not in verdict.flags:
                continue
            rank += 20
            why.append("автор благодарит")
        if reply.kind == "clarify" and verdict.topic == UNCLASSIFIED:
            rank += 10 if "thanks" in verdict.flags else 20
            why.append("тема не ясна: уточните вопрос")
        if reply.kind == "answer" and "question" in verdict.flags:
            rank += 6
            why.append("в комментарии вопрос")
        if reply.kind == "move-to-private" and "complaint" in verdict.flags:
            rank += 4 if reply.reason == "personal-data" else 2
            why.append("жалоба: для разбора нужны подробности")
        matched = reply.when & verdict.flags
        if matched:
            rank += 5 * len(matched)
        values["redirect_body"] = bodies.get(reply.redirect) if reply.redirect else None
        text, missing = _render(reply, values)
        if missing:
            rank -= 1
            why.append("заполните: " + ", ".join(missing))
        if limit is not None and len(text) > limit:
            continue
        drafts.append(Draft(reply.id, reply.kind, text, rank, tuple(why), tuple(missing)))
    drafts.sort(key=lambda d: (-d.rank, d.reply_id))
    return drafts


def kinds_offered(drafts: Sequence[Draft]) -> set[str]:
    return {d.kind for d in drafts}
