"""The compiled rules: topics, phrases, settings and the lexicon the classifier reads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from incident.text import Normalizer

FLAGS_FILE = "_flags.toml"
SPECIAL_TOPICS = ("spam",)
INTENTS = ("question", "complaint", "thanks", "urgent", "conversation", "appeal")


class RulesError(Exception):
    """The rule files are invalid; ``problems`` lists each one as 'file: key: what'."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Phrase:
    """One phrase of a rule. ``target`` is a topic id, or ``flag:<name>`` for flag phrases."""

    text: str
    stems: tuple[str, ...]
    weight: float
    target: str
    kind: str  # "positive" | "negative" | "urgent" | "flag"
    redirect: str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    id: str
    body: str
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    in_competence: bool
    replies: tuple[str, ...]
    examples: tuple[str, ...]
    phrases: tuple[Phrase, ...]
    negative: tuple[Phrase, ...]
    urgent: tuple[Phrase, ...]
    redirects: tuple[Redirect, ...]
    source: Path


@dataclass(frozen=True, slots=True)
class Settings:
    threshold: float = 1.0  # below this best score the verdict is a guess marked "uncertain"
    fuzzy_min_length: int = 5  # shorter stems are never corrected
    url_and_hashtag: float = 6.0  # spam score of a comment with a link and a hashtag
    many_urls: int = 3
    many_urls_weight: float = 6.0
    many_hashtags: int = 5
    many_hashtags_weight: float = 4.0
    link_only_weight: float = 6.0  # a link and at most this many words
    link_only_words: int = 3
    flood_similarity: float = 90.0  # rapidfuzz ratio to an earlier comment of the same author
    flood_weight: float = 10.0  # spam score of a repeated comment
    contentless_abuse: float = 2.0  # spam score of an abusive comment with no topic phrase
    phone_weight: float = 2.5  # spam score of a phone number written in the text
    link_weight: float = 1.5  # spam score of any link (more with hashtags or few words)
    thanks_other: float = 1.2  # "other" score of gratitude with no sector named
    conversation_other: float = 1.5  # "other" score of citizens talking among themselves
    offer_weight: float = 2.5  # spam score of each kind of a seller's wording ([offer])
    offer_most: int = 3  # at most this many kinds count


@dataclass(frozen=True, slots=True)
class Lexicon:
    obscene: re.Pattern[str]  # matched against folded word forms
    obscene_sources: tuple[str, ...]
    masked_obscenity: bool  # a word with '*' between letters counts as masked obscenity
    # A seller's wording ([offer] in _flags.toml), by kind. ``offer_words``: a word -> the word
    # sequences (lower case, ё as е) that hold it as their longest word, each as (sequence,
    # where that word is in it, kind). ``offer_numbers``: (pattern, kind) pairs, tried only on
    # text with a digit.
    offer_words: Mapping[str, tuple[tuple[tuple[str, ...], int, str], ...]] = field(
        default_factory=dict
    )
    offer_numbers: tuple[tuple[re.Pattern[str], str], ...] = ()


@dataclass(slots=True)
class RuleSet:
    """Validated, compiled rules. Build with ``load_ruleset``; treat as read-only."""

    topics: Mapping[str, Topic]
    settings: Settings
    lexicon: Lexicon
    index: Mapping[str, tuple[Phrase, ...]]  # first stem -> phrases starting with it, longest first
    vocabulary_by_prefix: Mapping[str, tuple[str, ...]]  # typo targets by first 3 letters
    version: str
    normalizer: Normalizer
    intent_phrases: Mapping[str, tuple[Phrase, ...]]
    brands: Mapping[str, Phrase] = field(default_factory=dict)  # folded word -> strong phrase
    brand_pattern: re.Pattern[str] = re.compile(r"(?!)")  # finds brands inside #tags/@names
    order: Mapping[str, int] = field(default_factory=dict)  # tie-break: file order
    _words: dict[str, tuple[str, bool, str, str]] = field(default_factory=dict)  # classify's
    aliases: Mapping[str, str] = field(default_factory=dict)  # inflected stem -> rule stem
    # the index again as (number of words, stems, phrase) triples, for the classifier's loop
    index_by_length: Mapping[str, tuple[tuple[int, tuple[str, ...], Phrase], ...]] = field(
        default_factory=dict
    )
    _vocab_set: frozenset[str] = frozenset()
    # the same phrases for the classifier's scan: one-word phrases by their stem, longer ones by
    # their first two stems (longest first), so a common first word ("в", "не") costs one lookup
    singles: Mapping[str, tuple[Phrase, ...]] = field(default_factory=dict)
    pairs: Mapping[tuple[str, str], tuple[tuple[int, tuple[str, ...], Phrase], ...]] = field(
        default_factory=dict
    )
    starts: frozenset[str] = frozenset()  # first stems of the phrases of two words or more

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return tuple(self.topics)

    def title(self, topic: str) -> str:
        found = self.topics.get(topic)
        return found.title if found else topic
