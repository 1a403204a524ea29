"""Pure topic classifier: ``classify(text, ruleset) -> Verdict``.

How a verdict is reached (each step leaves a trace in the verdict, so staff can see why):

1. The text is tokenised into words with spans (``incident.text``); each distinct word is
   stemmed once and cached in the rule set.
2. A stem that no rule uses is mapped to a rule stem: first through the rule set's aliases
   (other case forms of rule words, where the snowball stemmer is inconsistent), else as a
   typo with rapidfuzz (one slip in stems under 8 letters, two from 11; same first three
   letters). Typo matches count 0.8 of their weight and are marked ``fuzzy``.
3. Phrases are looked up by their first stem; at each position the longest phrase wins, so
   "мтс банк" (finance) beats "мтс" (telecom). Each distinct phrase counts once per comment.
4. Spam features (links with hashtags, link dumps, hashtag floods, repeats of the author's
   earlier comments, contentless abuse) add to the ``spam`` topic with a reason each.
5. Intents: gratitude and citizens talking among themselves (a comment that opens by
   addressing another person, or uses a conversation phrase, and does not turn to the
   committee) add a little to ``other``, so a sector named in the same comment still wins.
6. The best topic wins. Below the threshold it is still the verdict's topic, flagged
   ``uncertain`` with its runner-up beside it; the verdict is ``"unclassified"`` only when no
   topic has any evidence at all. Flags: abusive, urgent, flood, question, complaint, thanks,
   conversation, uncertain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, count
from typing import Any, NamedTuple, SupportsRound

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Indel

from incident.models import UNCLASSIFIED
from incident.rules import Phrase, RuleSet
from incident.text import Analysis, fold

__all__ = [
    "Match",
    "Verdict",
    "VerdictFields",
    "classify",
    "round3",
    "round3_fresh",
    "rule_fields",
    "verdict_json",
]

_CYRILLIC = re.compile(r"[а-я]")
_MASKED = re.compile(r"[^\W\d_]\*+[^\W\d_]")
_FUZZY_WEIGHT = 0.8
# A Russian phone number: +7 / 8 and ten digits, with the usual spaces, dashes and brackets.
_PHONE = re.compile(r"(?<!\d)(?:\+7|8)[\s(-]{0,2}\d{3}[\s)-]{0,2}\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\d)")
# A comment that opens by addressing someone: VK's reply markup "[id1|Анна], ", an @handle or a
# capitalised name followed by a comma. VK's "[club1|...]" is the community itself: not a citizen.
_ADDRESS = re.compile(r"^\W{0,3}(?:\[id\d+\|[^\]\n]{1,80}\]|@\w{2,40}|([А-ЯЁ][а-яё]{2,20}))\s*,")
_SECOND_PERSON = re.compile(r"(?<!\w)(?:вы|вам|вас|ваш\w*|ты|тебе|тебя|твой|твоя|твои)(?!\w)", re.I)
_DIGIT = re.compile(r"\d")
_OFFER_SCAN = 2_000  # characters of a comment the [offer] patterns read
_QUOTE = 40  # characters of a seller's wording quoted in the verdict's reasons
# A reply that opens with the person's handle or VK's reply markup, with or without a comma
# ("@Марина ну а чего вы хотели"); VK's "[club1|...]" is the community itself: not a citizen.
_HANDLE = re.compile(r"(?:\[id\d+\|[^\]\n]{1,80}\]|@\w{2,40})(?!\S)")
# Capitalised words that open a comment with a comma but address no one in particular.
_NOT_A_PERSON = frozenset(
    (  # noqa: SIM905 (a word list reads better as words)
        "здравствуйте добрый доброе доброго уважаемые уважаемый уважаемая люди друзья граждане "
        "жители соседи коллеги ребята девочки девушки народ админ администратор комитет скажите "
        "подскажите помогите спасибо извините простите короче кстати вообще конечно честно "
        "сегодня вчера опять снова теперь потом сначала блин ладно итак однако впрочем"
    ).split()
)
_WORD_CACHE_LIMIT = 50_000  # words as written -> rule stem and flags: at most about 8 MB


_ROUNDED: dict[float, float] = {}  # round3 of the weights and scores seen; bounded
_ROUNDED_LIMIT = 100_000


def round3(x: SupportsRound[Any]) -> Any:
    """``round(x, 3)``, the same float, remembered, and computed without ``round``'s decimal
    conversion (which costs as much as a verdict's dict).

    The phrases' weights and their sums recur from comment to comment: those come from the
    memory. A float seen for the first time (a verdict's confidence, the model's probability and
    word weights) whose thousandfold is not within 0.0001 of a half is rounded by arithmetic:
    below 1e9 ``x * 1000`` is off the exact product by less than 1.2e-7, so its nearest integer
    ``k`` is the correctly rounded one, and ``k / 1000`` (a correctly rounded division) is the
    float nearest to that decimal, which is what ``round`` returns. A whole float (a zero with
    its sign too) is its own rounding. Anything else goes to ``round`` itself. Only floats with
    a fraction are remembered: 0.0 and -0.0, or 3 and 3.0, are equal keys that round
    differently, so a whole number, or a number of another type equal to a whole float, must
    never find a remembered float (``_rounded`` relies on this). (Typed as any number so that
    the compiled module, ``setup.py``, passes an int through as an int, as ``round`` does.)"""
    if type(x) is not float:
        return round(x, 3)
    r = _ROUNDED.get(x)
    if r is None:
        if not x or x.is_integer():
            return x
        y = x * 1000.0
        k = round(y) if -1e9 < y < 1e9 else 0
        r = k / 1000 if k and -0.4999 < y - k < 0.4999 else round(x, 3)
        if len(_ROUNDED) >= _ROUNDED_LIMIT:
            _ROUNDED.clear()
        _ROUNDED[x] = r
    return r


def round3_fresh(x: float) -> float:
    """``round3(x)`` of a float that hardly ever recurs (the model's probability and word
    weights), by the same arithmetic, without the memory: remembering them only made room."""
    y = x * 1000.0
    k = round(y) if -1e9 < y < 1e9 else 0
    return k / 1000 if k and -0.4999 < y - k < 0.4999 else round(x, 3)


# ``round3`` of a remembered float, else None (or 0.0, a remembered float that rounds to zero):
# ``_rounded(x) or round3(x)`` is ``round3(x)`` without a Python call for most of a verdict's
# numbers. The memory holds floats with a fraction only, so no other number can find one.
_rounded = _ROUNDED.get


class Match(NamedTuple):
    """A rule phrase found in the text; ``start``/``end`` index the ORIGINAL text.

    (A named tuple rather than a dataclass: thousands are built per second.)
    """

    phrase: str
    start: int
    end: int
    weight: float
    topic: str  # a topic id, or "flag:<name>" for flag phrases
    kind: str  # positive | negative | urgent | flag | spam | abusive
    fuzzy: bool = False
    redirect: str | None = None

    def to_json(self) -> dict[str, Any]:
        phrase, start, end, weight, topic, kind, fuzzy, redirect = self
        out: dict[str, Any] = {
            "phrase": phrase,
            "span": [start, end],
            "weight": round3(weight),
            "topic": topic,
            "kind": kind,
            "fuzzy": fuzzy,
        }
        if redirect:
            out["redirect"] = redirect
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Match:
        """The match ``to_json`` wrote (its weight rounded to three decimals)."""
        start, end = data["span"]
        redirect = data.get("redirect")
        return cls(
            str(data["phrase"]),
            int(start),
            int(end),
            float(data["weight"]),
            str(data["topic"]),
            str(data["kind"]),
            bool(data.get("fuzzy", False)),
            str(redirect) if redirect else None,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classifier's decision about one comment and the evidence behind it."""

    topic: str  # a topic id or "unclassified"
    score: float  # the winning topic's summed weight
    confidence: float  # 0..1: how far the winner is ahead of the runner-up
    matches: tuple[Match, ...]
    runner_up: str | None
    runner_up_score: float
    flags: frozenset[str]
    reasons: tuple[str, ...]  # plain-language reasons for spam/abuse/flood decisions
    scores: tuple[tuple[str, float], ...]  # every topic with a non-zero score, best first
    redirect: str | None  # for out-of-competence topics: the sub-theme id to redirect to
    in_competence: bool
    ruleset_version: str
    # what the learned model said and did (``incident.learned.combine``); None: no model
    model: Mapping[str, Any] | None = None

    @property
    def uncertain(self) -> bool:
        """A best guess below the threshold: shown as «не уверен» until a person confirms it."""
        return "uncertain" in self.flags

    @property
    def conversation(self) -> bool:
        """Citizens talking among themselves: «разговор пользователей», no answer needed."""
        return "conversation" in self.flags

    def matches_for(self, topic: str) -> tuple[Match, ...]:
        return tuple(m for m in self.matches if m.topic == topic)

    def to_json(self) -> dict[str, Any]:
        return verdict_json(
            (
                self.topic,
                self.score,
                self.confidence,
                self.matches,
                self.runner_up,
                self.runner_up_score,
                self.flags,
                self.reasons,
                self.scores,
                self.redirect,
                self.in_competence,
                self.ruleset_version,
            ),
            self.model,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """The verdict as ``to_json`` stored it with the incident.

        Scores come back rounded to three decimals, as stored; ``scores`` is put best first
        again (PostgreSQL's JSONB keeps an object's keys in its own order). Raises
        ``ValueError`` when ``data`` is not a stored verdict.
        """
        try:
            runner_up = data["runner_up"]
            redirect = data["redirect"]
            scores = sorted(
                ((str(t), float(v)) for t, v in data["scores"].items()), key=lambda ts: -ts[1]
            )
            return cls(
                topic=str(data["topic"]),
                score=float(data["score"]),
                confidence=float(data["confidence"]),
                matches=tuple(Match.from_json(m) for m in data["matches"]),
                runner_up=str(runner_up) if runner_up is not None else None,
                runner_up_score=float(data["runner_up_score"]),
                flags=frozenset(str(f) for f in data["flags"]),
                reasons=tuple(str(r) for r in data["reasons"]),
                scores=tuple(scores),
                redirect=str(redirect) if redirect is not None else None,
                in_competence=bool(data["in_competence"]),
                ruleset_version=str(data["ruleset_version"]),
                model=model if isinstance(model := data.get("model"), Mapping) else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a stored verdict: {exc!r}") from exc

    @classmethod
    def unclassified(cls, ruleset_version: str = "") -> Verdict:
        """The verdict of a comment no rule matched: no topic, no flags, no evidence."""
        return cls(
            topic=UNCLASSIFIED,
            score=0.0,
            confidence=0.0,
            matches=(),
            runner_up=None,
            runner_up_score=0.0,
            flags=frozenset(),
            reasons=(),
            scores=(),
            redirect=None,
            in_competence=False,
            ruleset_version=ruleset_version,
        )


def _resolve(stem: str, ruleset: RuleSet) -> str:
    """The rule stem this unknown text stem is a typo of, or the stem itself.

    Strict on purpose, since short Russian stems are one letter apart all the time
    ("провод"/"проход"): below 8 letters only one inserted or dropped letter is forgiven,
    from 8 letters one edit (a swap of neighbours counts as one), from 11 letters two; the
    first three letters must agree.
    """
    if (
        stem in ruleset._vocab_set
        or len(stem) < ruleset.settings.fuzzy_min_length
        or not _CYRILLIC.match(stem)
    ):
        return stem
    bucket = ruleset.vocabulary_by_prefix.get(stem[:3])
    if not bucket:
        return stem
    size = len(stem)
    if size < 8:
        found = process.extractOne(stem, bucket, scorer=Indel.distance, score_cutoff=1)
    else:
        found = process.extractOne(
            stem, bucket, scorer=OSA.distance, score_cutoff=1 if size < 11 else 2
        )
    if found is None:
        return stem
    target = str(found[0])
    # "деревн" is not a typo of "дерев": a different ending is another word, not a slip
    if target.startswith(stem) or stem.startswith(target):
        return stem
    return target


def _obscenity(form: str, ruleset: RuleSet) -> str:
    """Why this folded word is abusive, or '' when it is not."""
    lexicon = ruleset.lexicon
    if lexicon.obscene_sources and lexicon.obscene.match(form):
        return "нецензурная лексика"
    if lexicon.masked_obscenity and "*" in form and _MASKED.search(form):
        return "замаскированное ругательство"
    return ""


def _word_info(raw: str, ruleset: RuleSet) -> tuple[str, bool, str, str]:
    """(rule stem, corrected as a typo?, abuse reason, the word in lower case with ё as е when
    a seller's wording of [offer] is looked up by it, else "") of a word as written; cached."""
    form, stem = ruleset.normalizer.word(raw)
    alias = ruleset.aliases.get(stem)
    canon = alias if alias is not None else _resolve(stem, ruleset)
    low = raw.lower().replace("ё", "е")
    offer = low if low in ruleset.lexicon.offer_words else ""
    info = (canon, alias is None and canon != stem, _obscenity(form, ruleset), offer)
    cache = ruleset._words
    if len(cache) >= _WORD_CACHE_LIMIT:
        cache.clear()
    cache[raw] = info
    return info


def _scan(
    canon: Sequence[str], typos: Sequence[bool], ruleset: RuleSet
) -> list[tuple[Phrase, int, int, bool]]:
    """(phrase, first token, end token, fuzzy) for each longest phrase found."""
    index = ruleset.index_by_length
    singles = ruleset.singles
    pairs = ruleset.pairs
    starts = ruleset.starts
    hits = compress(count(), map(index.__contains__, canon))  # words a phrase starts with
    found: list[tuple[Phrase, int, int, bool]] = []
    any_typo = any(typos)
    last = len(canon) - 1
    free = 0  # tokens before this one are already part of a longer phrase
    for i in hits:
        if i < free:
            continue
        best = 0
        stem = canon[i]
        if i < last and stem in starts:
            for length, stems, phrase in pairs.get((stem, canon[i + 1]), ()):
                if length < best:
                    break
                if length == 2 or tuple(canon[i : i + length]) == stems:
                    best = length
                    end = i + length
                    found.append((phrase, i, end, any_typo and any(typos[i:end])))
        if not best:
            for phrase in singles.get(stem, ()):
                best = 1
                found.append((phrase, i, i + 1, any_typo and typos[i]))
        free = i + (best or 1)
    return found


def _offer(text: str, raw: Sequence[str], offers: Sequence[str], ruleset: RuleSet) -> list[str]:
    """A seller's wording in the comment ([offer] in _flags.toml): the first found of each
    kind, as it reads in lower case. ``offers``: per word, its lower-case form when a word
    sequence of [offer] is looked up by it (``_word_info``), else "". The kinds' patterns run
    only on text with a digit, each from its literal start, and count only at a word's start."""
    lexicon = ruleset.lexicon
    found: dict[str, str] = {}
    if any(offers):
        index = lexicon.offer_words
        for i, word in enumerate(offers):
            if not word:
                continue
            for sequence, at, kind in index[word]:
                if kind in found or i < at:
                    continue
                if (
                    len(sequence) == 1
                    or tuple(
                        w.lower().replace("ё", "е") for w in raw[i - at : i - at + len(sequence)]
                    )
                    == sequence
                ):
                    found[kind] = " ".join(sequence)
    if lexicon.offer_numbers and _DIGIT.search(text, 0, _OFFER_SCAN):
        # an advert states its price early; a bounded text also bounds a slow pattern's time
        low = text[:_OFFER_SCAN].lower().replace("ё", "е")
        for pattern, kind in lexicon.offer_numbers:
            if kind in found:
                continue
            m = pattern.search(low)
            while m is not None and m.start() and low[m.start() - 1].isalnum():
                m = pattern.search(low, m.start() + 1)
            if m is not None:
                quote = m.group().strip()
                found[kind] = quote if len(quote) <= _QUOTE else quote[: _QUOTE - 1] + "…"
    return list(found.values())


def _is_flood(
    analysis: Analysis, canon: Sequence[str], history: Sequence[str], ruleset: RuleSet
) -> str | None:
    if len(canon) >= 8 and len(set(canon)) * 4 <= len(canon):
        return "одно и то же слово повторяется много раз"
    if not history or not canon:
        return None
    key = analysis.key
    for earlier in history:
        other = ruleset.normalizer.analyze(earlier).key
        if other and (other == key or fuzz.ratio(key, other) >= ruleset.settings.flood_similarity):
            return "автор уже присылал этот текст"
    return None


def _replies_to_a_handle(text: str, ruleset: RuleSet) -> bool:
    """Does the comment open with a person's handle or VK's reply markup ("@Марина ну а чего
    вы хотели")? A company's handle ("@sberbank где деньги") is a complaint to the company."""
    found = _HANDLE.match(text)
    return found is not None and not ruleset.brand_pattern.search(fold(found.group()))


def _addresses_a_citizen(text: str, ruleset: RuleSet) -> bool:
    """Does the comment open by addressing another person ("[id1|Анна], ...", "Ольга, вы ...")?

    A bare capitalised word counts only when the comment then speaks to someone ("вы", "ты")
    and the word is neither a collective address ("Люди,") nor a word of the rules ("Магнит,
    вы ...": a shop is not a neighbour in the thread).
    """
    found = _ADDRESS.match(text)
    if found is None:
        return False
    name = found.group(1)
    if name is None:
        return True
    folded = name.lower()
    if folded in _NOT_A_PERSON or ruleset.normalizer.stem(folded) in ruleset._vocab_set:
        return False
    return _SECOND_PERSON.search(text, found.end()) is not None


# ``Match(*fields)`` without the named tuple's ``__new__`` in Python: every field given, in order.
_match = tuple.__new__


def _position(match: Match) -> tuple[int, int]:
    return (match.start, match.end)


# A rules' verdict as its fields in ``Verdict``'s order, without the model's note: what
# ``classify`` builds its verdict from, and ``incident.learned`` adds the model's say to
# (building one verdict a comment, not the rules' and then the combined one).
VerdictFields = tuple[
    str,
    float,
    float,
    tuple[Match, ...],
    str | None,
    float,
    frozenset[str],
    tuple[str, ...],
    tuple[tuple[str, float], ...],
    str | None,
    bool,
    str,
]


def verdict_json(fields: VerdictFields, model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The verdict made of ``fields`` (and the model's note) as JSON data: ``Verdict.to_json``,
    and what ``classify --jsonl`` writes without building the verdict (every float rounded by
    ``round3``; a match's dict is ``Match.to_json``'s)."""
    (
        topic,
        score,
        confidence,
        matches,
        runner_up,
        runner_up_score,
        flags,
        reasons,
        scores,
        redirect,
        in_competence,
        ruleset_version,
    ) = fields
    rounded = _rounded
    out: dict[str, Any] = {
        "topic": topic,
        "score": rounded(score) or round3(score),
        "confidence": rounded(confidence) or round3(confidence),
        "runner_up": runner_up,
        "runner_up_score": rounded(runner_up_score) or round3(runner_up_score),
        "flags": sorted(flags),
        "in_competence": in_competence,
        "redirect": redirect,
        "reasons": list(reasons),
        "scores": {t: rounded(s) or round3(s) for t, s in scores},
        "matches": [m.to_json() for m in matches],  # the one definition of a match's JSON
        "ruleset_version": ruleset_version,
    }
    if model is not None:
        out["model"] = model
    return out


def classify(
    text: str,
    ruleset: RuleSet,
    *,
    history: Sequence[str] = (),
    threshold: float | None = None,
) -> Verdict:
    """Classify one comment. ``history``: earlier texts by the same author (flood check).

    ``threshold`` overrides the rule set's ``classifier.threshold``.
    """
    return Verdict(*rule_fields(text, ruleset, history, threshold))


def rule_fields(
    text: str, ruleset: RuleSet, history: Sequence[str] = (), threshold: float | None = None
) -> VerdictFields:
    """The fields of ``classify``'s verdict, in ``Verdict``'s order (``Verdict(*fields)``)."""
    settings = ruleset.settings
    limit = settings.threshold if threshold is None else threshold
    analysis = ruleset.normalizer.analyze(text)
    raw = analysis.raw
    infos = list(map(ruleset._words.get, raw))
    if not all(infos):  # a word seen for the first time
        infos = [info or _word_info(w, ruleset) for w, info in zip(raw, infos, strict=True)]
    canon: Sequence[str]
    typos: Sequence[bool]
    abusive: Sequence[str]
    offers: Sequence[str]
    canon, typos, abusive, offers = zip(*infos, strict=True) if infos else ((), (), (), ())
    scores: dict[str, float] = {}
    seen: set[tuple[str, str]] = set()
    matches: list[Match] = []
    flags: set[str] = set()
    reasons: list[str] = []
    redirect_weight: dict[str, float] = {}

    span = analysis.span
    for phrase, first, end, fuzzy in _scan(canon, typos, ruleset):
        start, stop = span(first) if end - first == 1 else (span(first)[0], span(end - 1)[1])
        if phrase.kind == "flag":
            flags.add(phrase.target.removeprefix("flag:"))
            matches.append(
                _match(Match, (phrase.text, start, stop, 0.0, phrase.target, "flag", fuzzy, None))
            )
            continue
        if phrase.kind == "urgent":
            flags.add("urgent")
            matches.append(
                _match(Match, (phrase.text, start, stop, 0.0, phrase.target, "urgent", fuzzy, None))
            )
            continue
        key = (phrase.target, phrase.text)
        if key in seen:
            continue
        seen.add(key)
        weight = phrase.weight * (_FUZZY_WEIGHT if fuzzy else 1.0)
        if phrase.kind == "negative":
            weight = -weight
        scores[phrase.target] = scores.get(phrase.target, 0.0) + weight
        to = phrase.redirect
        if to is not None:
            redirect_weight[to] = redirect_weight.get(to, 0.0) + weight
        matches.append(
            _match(
                Match,
                (phrase.text, start, stop, weight, phrase.target, phrase.kind, fuzzy, to),
            )
        )

    resort = False  # matches found by the scan are in text order already
    for body, start, stop in analysis.compounds:
        for m in ruleset.brand_pattern.finditer(body):
            phrase = ruleset.brands[m.group()]
            key = (phrase.target, phrase.text)
            if key in seen:
                continue
            seen.add(key)
            scores[phrase.target] = scores.get(phrase.target, 0.0) + phrase.weight
            matches.append(
                Match(phrase.text, start, stop, phrase.weight, phrase.target, "positive")
            )
            resort = True

    if "?" in text:
        flags.add("question")
    # an opening address ends with a comma after at most a few words (VK's markup, an @handle,
    # one or two names): plain string checks spare most comments the pattern
    comma = text.find(",", 0, 100)
    addressed = (text[:1] in "[@" and _replies_to_a_handle(text, ruleset)) or (
        comma > 0
        and (text[0] in "[@" or (comma <= 45 and text.count(" ", 0, comma) <= 1))
        and _addresses_a_citizen(text, ruleset)
    )
    # a conversation phrase inside one's own complaint ("говорят, сам виноват") is reported
    # speech, not a talk between citizens; an opening address to a citizen still is one
    talk = ("conversation" in flags and "complaint" not in flags) or addressed
    flags.discard("conversation")
    if talk and "appeal" not in flags:
        flags.add("conversation")
        scores["other"] = scores.get("other", 0.0) + settings.conversation_other
    flags.discard("appeal")
    if "thanks" in flags:
        scores["other"] = scores.get("other", 0.0) + settings.thanks_other

    # Spam features.
    spam = 0.0
    if analysis.urls and analysis.hashtags:
        spam += settings.url_and_hashtag
        reasons.append("ссылка вместе с хештегами")
    if analysis.urls >= settings.many_urls:
        spam += settings.many_urls_weight
        reasons.append(f"много ссылок: {analysis.urls}")
    if analysis.hashtags >= settings.many_hashtags:
        spam += settings.many_hashtags_weight
        reasons.append(f"много хештегов: {analysis.hashtags}")
    if analysis.urls and analysis.words <= settings.link_only_words:
        spam += settings.link_only_weight
        reasons.append("ссылка почти без текста")
    if analysis.urls:
        spam += settings.link_weight
        reasons.append("ссылка в комментарии")
    if ("8" in text or "+7" in text) and _PHONE.search(text):
        spam += settings.phone_weight
        reasons.append("номер телефона в тексте")
    if "complaint" not in flags:  # a customer quoting an advert's promise is no advert
        offer = _offer(text, raw, offers, ruleset)
        if offer:
            kinds = offer[: settings.offer_most]
            spam += settings.offer_weight * len(kinds)
            reasons.append("так пишут в объявлениях: " + ", ".join(f"«{k}»" for k in kinds))
    flood = _is_flood(analysis, canon, history, ruleset)
    if flood is not None:
        flags.add("flood")
        spam += settings.flood_weight
        reasons.append(flood)

    abuse = [(i, why) for i, why in enumerate(abusive) if why] if any(abusive) else []
    if abuse:
        resort = True
        flags.add("abusive")
        for idx, _why in abuse:
            start, stop = analysis.span(idx)
            matches.append(Match(text[start:stop], start, stop, 0.0, "flag:abusive", "abusive"))
        reasons.append(abuse[0][1])
    if "abusive" in flags and not abuse:
        reasons.append("угроза")

    if spam:
        scores["spam"] = scores.get("spam", 0.0) + spam
    order = ruleset.order
    ranked = sorted(
        ((t, s) for t, s in scores.items() if s > 0), key=lambda ts: (-ts[1], order.get(ts[0], 99))
    )
    if "abusive" in flags and (not ranked or ranked[0][1] < limit):
        scores["spam"] = scores.get("spam", 0.0) + settings.contentless_abuse
        reasons.append("ругань без сути обращения")
        ranked = sorted(
            ((t, s) for t, s in scores.items() if s > 0),
            key=lambda ts: (-ts[1], order.get(ts[0], 99)),
        )

    best_topic, best = ranked[0] if ranked else (UNCLASSIFIED, 0.0)
    runner_up, second = ranked[1] if len(ranked) > 1 else (None, 0.0)
    if ranked and best < limit:
        flags.add("uncertain")  # a guess, still: staff confirm or correct it in one click
    topic_rules = ruleset.topics.get(best_topic)
    redirect: str | None = None
    if topic_rules is not None and topic_rules.redirects:
        positive = {r: w for r, w in redirect_weight.items() if w > 0}
        redirect = (
            max(positive, key=lambda r: positive[r]) if positive else topic_rules.redirects[0].id
        )
    confidence = (best - second) / best * min(1.0, best / limit) if best and limit else 0.0
    return (
        best_topic,
        best,
        confidence,
        tuple(sorted(matches, key=_position) if resort else matches),
        runner_up,
        second,
        frozenset(flags),
        tuple(dict.fromkeys(reasons)),
        tuple(ranked),
        redirect,
        bool(topic_rules and topic_rules.in_competence),
        ruleset.version,
    )
