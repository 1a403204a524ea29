"""The reply catalogue's model: templates, the catalogue, the context that fills them, drafts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from incident.models import Platform, ReplyKind
from incident.replies.names import plausible_name
from incident.rules import RuleSet

KINDS = tuple(k.value for k in ReplyKind)
PRIVATE_REASONS = ("personal-data", "documents", "formal-appeal")
PLACEHOLDERS: Mapping[str, str] = {
    "greeting": "«Анна, здравствуйте!» или «Здравствуйте!», если имени нет или оно не похоже "
    "на имя",
    "author_first_name": "имя автора комментария",
    "community_name": "название сообщества",
    "private_link": "ссылка для личных сообщений",
    "hotline": "телефон горячей линии комитета",
    "gosuslugi_link": "ссылка на подачу обращения через Госуслуги",
    "redirect_body": "куда обратиться (из rules/other.toml)",
    "topic_title": "название темы",
}
PLATFORMS_FILE = "_platforms.toml"


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
    # the reply carries the «оцените ответ» link when [survey] rating_links is on
    rating_link: bool = False

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
    """What the drafts are filled with. Missing values make the drafts needing them drop out.

    ``author_first_name`` is used only if it looks like a name (``names.plausible_name``): it
    is the author's choice, and the reply is posted as the community."""

    platform: str = Platform.VK.value
    community_name: str | None = None
    author_first_name: str | None = None
    private_link: str | None = None
    hotline: str | None = None
    gosuslugi_link: str | None = "https://www.gosuslugi.ru/"

    def values(self) -> dict[str, str | None]:
        name = plausible_name(self.author_first_name)
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
