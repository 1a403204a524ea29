"""Stem aliases for inflected forms of rule words, where the stemmer is inconsistent."""

from __future__ import annotations

import re
from collections.abc import Iterable

from incident.rules.model import Phrase
from incident.text import Normalizer

_CYRILLIC_WORD = re.compile(r"^[а-я]+$")
_VOWEL_ENDINGS = ("ы", "и", "е", "у", "ой", "ом")
_CONSONANT_ENDINGS = ("а", "у", "е", "ом", "ы", "и")


def _inflections(word: str) -> set[str]:
    """Rough case forms of a noun-like word ("батарея" -> "батареи", "батарее", ...)."""
    if len(word) < 4 or not _CYRILLIC_WORD.match(word):
        return set()
    if word[-1] in "аяоеьй":
        base = word[:-1]
        return {base + ending for ending in _VOWEL_ENDINGS}
    return {word + ending for ending in _CONSONANT_ENDINGS}


def inflection_aliases(
    phrases: Iterable[Phrase], normalizer: Normalizer, stems: frozenset[str]
) -> dict[str, str]:
    """Map stems of inflected forms of rule words to the rule word's own stem.

    The snowball stemmer is not consistent across a word's forms ("ростелеком" -> "ростелек",
    "ростелекоме" -> "ростелеком"; "батарея" -> "батаре", "батареи" -> "батар"). An alias never
    overrides a stem that some rule uses itself, a common word's stem, or a stem under 4 letters.
    """
    stop = normalizer.stopword_stems()
    words: dict[str, str] = {}
    for phrase in phrases:
        analysis = normalizer.analyze(phrase.text)
        for form, stem in zip(analysis.forms, analysis.stems, strict=True):
            words.setdefault(form, stem)
    aliases: dict[str, str] = {}
    for form, stem in words.items():
        for variant in _inflections(form):
            other = normalizer.stem(variant)
            if other != stem and other not in stems and other not in stop and len(other) >= 4:
                aliases.setdefault(other, stem)
    return aliases
