"""The rules and reply catalogue as the web app uses them: topic names, ranked drafts, redirect
bodies (``Suggestions``, built once per app by ``load_suggestions``).

Both are optional: when the folders are missing or invalid, the card still works, without
suggestions (the problem is logged once at start-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from incident.classify import Verdict
from incident.logs import get_logger
from incident.models import UNCLASSIFIED, ReplyKind
from incident.replies import Catalog, ReplyContext, first_name, load_replies, suggest
from incident.rules import RuleSet, load_ruleset
from incident.sources.registry import PLATFORMS


@dataclass(frozen=True, slots=True)
class DraftView:
    reply_id: str
    kind: str
    text: str
    why: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RedirectView:
    id: str
    body: str


KIND_TITLES = {kind.value: kind.label for kind in ReplyKind}

FALLBACK_PRIVATE = (
    "Здравствуйте! Чтобы разобраться, нам нужны подробности, которые не стоит писать "
    "публично. Напишите, пожалуйста, в личные сообщения сообщества — ответим там."
)
FALLBACK_PRIVATE_LINK = (
    "Здравствуйте! Чтобы разобраться, нам нужны подробности, которые не стоит писать "
    "публично. Напишите, пожалуйста, в личные сообщения: {link} — ответим там."
)


def private_text(link: str | None) -> str:
    """The built-in move-to-private draft, with the place to write to when it is known."""
    return FALLBACK_PRIVATE_LINK.format(link=link) if link else FALLBACK_PRIVATE


FALLBACK_REDIRECT = (
    "Здравствуйте! Этот вопрос решает другое ведомство: {body}. "
    "Обратитесь, пожалуйста, туда — там помогут быстрее."
)


def redirect_text(body: str) -> str:
    return FALLBACK_REDIRECT.format(body=body)


@dataclass(slots=True)
class Suggestions:
    """What the web app suggests to staff: topic titles, reply drafts, redirect bodies.

    ``ruleset`` and ``catalog`` are None when the rules or replies did not load; then only the
    built-in move-to-private and redirect drafts are offered. The placeholders' values
    (``places``, ``hotline``, ``gosuslugi_link``) come from the deployment's configuration.
    """

    ruleset: RuleSet | None = None
    catalog: Catalog | None = None
    topics: dict[str, str] = field(default_factory=dict)  # id -> title
    redirects: list[RedirectView] = field(default_factory=list)
    # placeholders' values: per page, (platform, community id) -> (name, private link), since
    # a VK and an OK page may have the same numeric id; and deployment-wide values
    places: dict[tuple[str, str], tuple[str | None, str | None]] = field(default_factory=dict)
    hotline: str | None = None
    gosuslugi_link: str | None = "https://www.gosuslugi.ru/"

    def title(self, topic: str | None) -> str:
        """The topic's title from the rules (its id when the rules do not name it)."""
        if not topic:
            return "—"
        if topic == UNCLASSIFIED:
            return "не определена"
        return self.topics.get(topic, topic)

    def place(self, platform: str, community: str | None) -> tuple[str | None, str | None]:
        """The page's name and where its citizens write privately: the configured values, else
        the link the platform derives from the community id (None when it has none)."""
        name, link = self.places.get((platform, community or ""), (None, None))
        if link is None and community:
            support = PLATFORMS.get(platform)
            link = support.private_link(community) if support is not None else None
        return name, link

    def rating_link(self, reply_id: str | None) -> bool:
        """Whether the template ``reply_id`` asks for the «оцените ответ» link."""
        if self.catalog is None or not reply_id:
            return False
        template = self.catalog.replies.get(reply_id)
        return template is not None and template.rating_link

    def limit(self, platform: str) -> int | None:
        """The most characters one reply may have on ``platform`` (None: no limit known)."""
        if self.catalog is None:
            return None
        return self.catalog.limit(platform)

    def drafts(
        self,
        topic: str | None,
        verdict: Mapping[str, Any] | None,
        platform: str,
        author_name: str | None,
        community: str | None = None,
    ) -> list[DraftView]:
        """Reply drafts for an incident, best first, then the built-in fallbacks.

        Ranked for ``verdict``, the verdict the worker stored with the incident (the web app
        never classifies): for an unclassified one when there is none (classification off,
        older rows) or it cannot be read. When ``topic`` differs from the verdict's, a person
        corrected it, and the drafts follow the correction.
        """
        out: list[DraftView] = []
        name, link = self.place(platform, community)
        if self.catalog is not None and self.ruleset is not None:
            try:
                v = _stored_verdict(verdict)
                if topic and topic != v.topic:  # a person corrected the topic: follow them
                    v = _replace_topic(v, topic, self.ruleset)
                context = ReplyContext(
                    platform=platform,
                    author_first_name=first_name(author_name),
                    community_name=name,
                    private_link=link,
                    hotline=self.hotline,
                    gosuslugi_link=self.gosuslugi_link,
                )
                for d in suggest(v, self.catalog, context):
                    out.append(DraftView(d.reply_id, d.kind, d.text, tuple(d.why)))
            except Exception:  # a bad rule must never take the card down
                get_logger().exception("drafts_failed")
        kinds = {d.kind for d in out}
        if ReplyKind.MOVE_TO_PRIVATE not in kinds:
            out.append(DraftView("builtin-private", ReplyKind.MOVE_TO_PRIVATE, private_text(link)))
        if ReplyKind.REDIRECT not in kinds:
            body = _redirect_body(verdict, self.redirects)
            if body:
                text = redirect_text(body)
                out.append(DraftView("builtin-redirect", ReplyKind.REDIRECT, text))
        return out


def _stored_verdict(stored: Mapping[str, Any] | None) -> Verdict:
    """The verdict stored with an incident; unclassified when there is none or it is unreadable."""
    if stored is None:
        return Verdict.unclassified()
    try:
        return Verdict.from_json(stored)
    except ValueError as exc:
        get_logger().warning("stored_verdict_unreadable", reason=str(exc)[:500])
        return Verdict.unclassified()


def _replace_topic(verdict: Verdict, topic: str, ruleset: RuleSet) -> Verdict:
    found = ruleset.topics.get(topic)
    return replace(
        verdict,
        topic=topic,
        in_competence=bool(found.in_competence) if found is not None else True,
        redirect=None,
    )


def _redirect_body(verdict: Mapping[str, Any] | None, redirects: list[RedirectView]) -> str:
    if not verdict:
        return ""
    wanted = verdict.get("redirect")
    return next((r.body for r in redirects if r.id == wanted), "")


def load_suggestions(rules_dir: Path | None, replies_dir: Path | None) -> Suggestions:
    """The rules and replies from these folders; what fails to load is logged and left out."""
    k = Suggestions()
    if rules_dir is None:
        return k
    log = get_logger()
    try:
        k.ruleset = load_ruleset(rules_dir)
    except Exception as exc:
        log.warning("rules_unavailable", folder=str(rules_dir), reason=str(exc)[:500])
        return k
    for topic in k.ruleset.topics.values():
        k.topics[topic.id] = topic.title
        for r in topic.redirects:
            k.redirects.append(RedirectView(r.id, r.body))
    if replies_dir is None:
        return k
    try:
        k.catalog = load_replies(replies_dir, k.ruleset)
    except Exception as exc:
        log.warning("replies_unavailable", folder=str(replies_dir), reason=str(exc)[:500])
    return k
