"""Ranking: the reply drafts for a verdict, best first, filled from the context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from incident.classify import Verdict
from incident.models import UNCLASSIFIED, ReplyKind
from incident.replies.model import (
    PLACEHOLDERS,
    Catalog,
    Draft,
    ReplyContext,
    ReplyTemplate,
)


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

    Spam gets none, and neither does a conversation between citizens (staff close it as
    «ответ не требуется»). Pure gratitude gets the thanks reply first, whatever the topic; a
    question puts the topic's answer before the move-to-private drafts; an uncertain verdict
    adds the clarifying question. A value the context lacks (say, ``{private_link}``) shows
    as a marker in brackets and is listed in ``Draft.missing``; such drafts rank a little
    lower. Drafts longer than the platform's limit are left out.
    """
    context = context or ReplyContext()
    if verdict.topic == "spam" or "conversation" in verdict.flags:
        return []
    # gratitude with nothing to complain about or ask: the thanks reply leads
    pure_thanks = "thanks" in verdict.flags and not verdict.flags & {"complaint", "question"}
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
        thanks_fits = reply.kind == ReplyKind.THANKS and "*" in reply.topics
        if thanks_fits and "thanks" in verdict.flags:
            pass  # gratitude is answered in any topic, in or out of competence
        elif verdict.topic == UNCLASSIFIED:
            if (
                reply.kind not in (ReplyKind.CLARIFY, ReplyKind.MOVE_TO_PRIVATE, ReplyKind.THANKS)
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
        if reply.kind == ReplyKind.REDIRECT:
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
        if reply.kind == ReplyKind.THANKS:
            if "thanks" not in verdict.flags:
                continue
            rank += 45 if pure_thanks else 20
            why.append("автор благодарит")
        if reply.kind == ReplyKind.CLARIFY and verdict.topic == UNCLASSIFIED:
            rank += 10 if "thanks" in verdict.flags else 20
            why.append("тема не ясна: уточните вопрос")
        if reply.kind == ReplyKind.ANSWER and "question" in verdict.flags:
            rank += 6
            why.append("в комментарии вопрос: ответ по существу")
        if reply.kind == ReplyKind.CLARIFY and "uncertain" in verdict.flags:
            rank += 5
            why.append("тема определена неуверенно: можно уточнить")
        if reply.kind == ReplyKind.MOVE_TO_PRIVATE and "complaint" in verdict.flags:
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
