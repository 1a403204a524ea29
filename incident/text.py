"""Normalisation of Russian social-media text.

``Normalizer.analyze(text)`` splits a comment into tokens and returns, for each token, its
normalised key (lower case, ё -> е, latin look-alikes -> cyrillic in mixed-script words,
letter runs collapsed, common misspellings fixed, snowball stem) together with its span in the
ORIGINAL text, so matches can be shown to staff where they occur. URLs, mentions, hashtags and
emoji are counted; the bodies of mentions and hashtags are tokenised as words too
(``@ru_mts`` -> ``ru``, ``mts``; ``#Кредит`` -> ``кред``).

A normaliser keeps a bounded per-word cache: stemming is by far the most expensive step and
words repeat a lot, so hold one normaliser (the compiled rule set does) for a whole run.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate, chain, count
from operator import add, itemgetter

import snowballstemmer  # type: ignore[import-untyped]

__all__ = ["STOPWORDS", "Analysis", "Normalizer", "fold", "normalize"]

# Latin letters that look like cyrillic ones; applied only to words that mix both scripts,
# so that "mts" stays latin while "xyй" or "cбербанк" (latin c) become cyrillic.
_LOOKALIKES = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "h": "н",
        "k": "к",
        "m": "м",
        "o": "о",
        "p": "р",
        "t": "т",
        "x": "х",
        "y": "у",
        "u": "и",
        "0": "о",
        "3": "з",
        "6": "б",
    }
)

# Frequent spellings of social-media Russian, mapped to the word a rule author would write.
MISSPELLINGS: dict[str, str] = {
    "инет": "интернет",
    "инета": "интернет",
    "инете": "интернет",
    "интырнет": "интернет",
    "щас": "сейчас",
    "ща": "сейчас",
    "че": "что",
    "чо": "что",
    "шо": "что",
    "ваще": "вообще",
    "спс": "спасибо",
    "пасиб": "спасибо",
    "пасибо": "спасибо",
    "сяп": "спасибо",
    "плз": "пожалуйста",
    "плиз": "пожалуйста",
    "пжлст": "пожалуйста",
    "пж": "пожалуйста",
    "оч": "очень",
    "норм": "нормально",
    "тел": "телефон",
    "комп": "компьютер",
    "жкх": "жкх",
    "сбер": "сбербанк",
    "сбера": "сбербанк",
    "сбере": "сбербанк",
    "сберу": "сбербанк",
    "мегафона": "мегафон",
    "тинек": "тинькофф",
    "тиньков": "тинькофф",
    "тинькоф": "тинькофф",
    "маршрутка": "маршрутка",
    "скорая": "скорая",
}

# Frequent function words. A one-word rule phrase whose stem equals one of their stems would
# fire on ordinary text ("меню" and "меня" both stem to "мен"), so the rule loader rejects it.
_STOPWORDS_TEXT = """
я меня мне мной ты тебя тебе он его ему она ее ей оно они их им мы нас нам вы вас вам себя себе
свой своя свои за на в во с со по из до от для при про без над под о об обо и а но или не ни да
нет как так что чтобы это этот эта эти тот та те все весь вся всех уже еще только очень почти
менее более где когда куда там тут здесь был была были быть есть будет может можно нужно надо
который которая которые даже тоже также вот ну ли же бы раз два три день дней сейчас потом тогда
если чем чего кто кого просто теперь
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_TOKEN_RE = re.compile(
    r"(?P<url>(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|com|рф|su|net|org|ly|me|io|info|biz)\b(?:/\S*)?)"
    r"|(?P<mention>@\w+)"
    r"|(?P<tag>\#\w+)"
    r"|(?P<word>\b[\d_]*+[^\W\d_]\w*+(?:\*+\w++)*+\**+)",
)
# Plain text (no link, mention or hashtag) takes a fast path with this word pattern alone;
# it must stay equal to the ``word`` alternative above. A word starts at a word boundary and
# holds at least one letter; the possessive quantifiers and the boundary keep matching linear
# on hostile input (a 100 kB run of digits would otherwise take quadratic time).
_WORD_RE = re.compile(r"\b[\d_]*+[^\W\d_]\w*+(?:\*+\w++)*+\**+")
_DOMAIN_HINT = re.compile(r"\.(?:ru|com|рф|su|net|org|ly|me|io|info|biz)\b")
_SPLIT_RE = re.compile(r"[^\W\d_]+|\d+")
_RUNS_RE = re.compile(r"(\D)\1{2,}")
_CYR_RE = re.compile(r"[а-я]")
_LAT_RE = re.compile(r"[a-z]")
_EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\U0001f1e6-\U0001f1ff]"
)
_CACHE_LIMIT = 50_000  # words as written -> (form, stem): at most about 10 MB; cleared when full
_MATCH_SPAN = re.Match.span
_MATCH_GROUP = re.Match.group
_CHUNK_LIMIT = 64  # longer space-separated chunks are tokenised every time, never remembered
# A chunk's words and their spans within the chunk.
_Chunk = tuple[tuple[str, ...], tuple[tuple[int, int], ...]]
_WORDS = itemgetter(0)


def fold(word: str) -> str:
    """Case, ё, look-alike letters in mixed-script words, runs of 3+ letters, misspellings."""
    w = word.lower().replace("ё", "е")
    if _CYR_RE.search(w) and (_LAT_RE.search(w) or any(ch in w for ch in "036")):
        w = w.translate(_LOOKALIKES)
    if len(w) > 2 and _RUNS_RE.search(w):  # a sub with a template calls Python code: rarely
        w = _RUNS_RE.sub(r"\1", w)
    return MISSPELLINGS.get(w, w)


class Analysis:
    """A tokenised comment.

    ``raw[i]`` is the i-th word as written (mention and hashtag bodies split into words);
    ``stems[i]`` its normalised stem, ``forms[i]`` its folded unstemmed form, found at
    ``text[spans[i][0]:spans[i][1]]``. Stems, forms and the spans of plain text are computed
    only when asked for: the classifier works from ``raw`` through its own cache.
    """

    __slots__ = (
        "_chunks",
        "_forms",
        "_normalizer",
        "_spans",
        "_stems",
        "_where",
        "compounds",
        "hashtags",
        "mentions",
        "raw",
        "text",
        "urls",
        "words",
    )

    def __init__(
        self,
        normalizer: Normalizer,
        text: str,
        raw: tuple[str, ...],
        spans: tuple[tuple[int, int], ...] | None,
        *,
        chunks: tuple[list[str], list[_Chunk]] | None = None,
        urls: int = 0,
        mentions: int = 0,
        hashtags: int = 0,
        words: int = 0,
        compounds: tuple[tuple[str, int, int], ...] = (),
    ) -> None:
        self._normalizer = normalizer
        self.text = text
        self.raw = raw
        self._spans = spans
        # plain text: its space-separated chunks and each one's words; spans come from them
        self._chunks = chunks
        self._where: tuple[list[int], list[int]] | None = None  # see ``span``
        self._stems: tuple[str, ...] | None = None
        self._forms: tuple[str, ...] | None = None
        self.urls = urls
        self.mentions = mentions
        self.hashtags = hashtags
        self.words = words  # plain words, not counting URLs, mentions and hashtags
        self.compounds = compounds  # folded hashtag/mention bodies with their spans

    @property
    def stems(self) -> tuple[str, ...]:
        if self._stems is None:
            word = self._normalizer.word
            self._stems = tuple([word(w)[1] for w in self.raw])
        return self._stems

    @property
    def forms(self) -> tuple[str, ...]:
        if self._forms is None:
            word = self._normalizer.word
            self._forms = tuple([word(w)[0] for w in self.raw])
        return self._forms

    @property
    def emoji(self) -> int:
        return len(_EMOJI_RE.findall(self.text))

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        spans = self._spans
        if spans is None:
            spans = self._spans = _chunk_spans(*self._chunks) if self._chunks else ()
        return spans

    def span(self, i: int) -> tuple[int, int]:
        """The i-th word's span (without computing every span of plain text: a verdict needs
        those of its few matched words)."""
        if self._spans is not None or self._chunks is None:
            return self.spans[i]
        chunks, parts = self._chunks
        if self._where is None:
            # the index of each chunk's first word, and where each chunk starts in the text
            self._where = (
                list(accumulate(map(len, map(_WORDS, parts)), initial=0)),
                list(map(add, accumulate(map(len, chunks), initial=0), count())),
            )
        firsts, starts = self._where
        c = bisect_right(firsts, i) - 1
        start, end = parts[c][1][i - firsts[c]]
        at = starts[c]
        return at + start, at + end

    @property
    def key(self) -> str:
        """The comment reduced to its stems: equal keys mean 'the same text' for flood checks."""
        return " ".join(self.stems)


def _chunk_words(chunk: str) -> _Chunk:
    """The words of one space-separated chunk of plain text and their spans in it."""
    matches = list(_WORD_RE.finditer(chunk))
    return tuple(map(_MATCH_GROUP, matches)), tuple(map(_MATCH_SPAN, matches))


def _chunk_spans(chunks: list[str], parts: list[_Chunk]) -> tuple[tuple[int, int], ...]:
    """The words' spans in the text the chunks were split from (at single spaces)."""
    # where each chunk starts (and, one more, where the text would go on)
    starts = map(add, accumulate(map(len, chunks), initial=0), count())
    return tuple(
        [
            (at + start, at + end)
            for at, (_, spans) in zip(starts, parts, strict=False)
            for start, end in spans
        ]
    )


class Normalizer:
    """Turns text into words, stems and spans. Holds bounded caches: word -> (form, stem), and
    space-separated chunk of plain text -> its words."""

    def __init__(self) -> None:
        self._stemmer = snowballstemmer.stemmer("russian")
        self._cache: dict[str, tuple[str, str]] = {}
        self._chunks: dict[str, _Chunk] = {}
        self._stop: frozenset[str] | None = None
        # The last text analysed and its analysis: the classifier and the learned model read
        # the same comment one after the other (one tuple, so threads never see half of it).
        self._last: tuple[str, Analysis] | None = None

    def word(self, raw: str) -> tuple[str, str]:
        """(folded form, stem) of one word as written; cached."""
        hit = self._cache.get(raw)
        if hit is not None:
            return hit
        form = fold(raw)
        letters = form.replace("*", "") if "*" in form else form
        stem = self._stemmer.stemWord(letters) if _CYR_RE.search(letters) else letters
        result = (form, stem)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[raw] = result
        return result

    def stopword_stems(self) -> frozenset[str]:
        if self._stop is None:
            self._stop = frozenset(self.stem(w) for w in STOPWORDS)
        return self._stop

    def stem(self, raw: str) -> str:
        return self.word(raw)[1]

    def phrase(self, text: str) -> tuple[str, ...]:
        """The stems of a rule phrase, tokenised exactly like comments are."""
        return self.analyze(text).stems

    def analyze(self, text: str) -> Analysis:
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        analysis = self._analyze(text)
        self._last = (text, analysis)
        return analysis

    def _analyze(self, text: str) -> Analysis:
        if (
            "@" in text
            or "#" in text
            or "://" in text
            or "www." in text
            or ("." in text and _DOMAIN_HINT.search(text))
        ):
            return self._analyze_marked(text)
        # Plain text is split at single spaces and each chunk's words are remembered: a word
        # can neither hold a space nor start or end next to one differently than at a string's
        # edge, so the chunks' words are the text's words (the word pattern over the text was
        # a quarter of a comment's classification). Empty chunks (double spaces) hold none.
        chunks = text.split(" ")
        found: list[_Chunk | None] = list(map(self._chunks.get, chunks))
        parts: list[_Chunk] = (
            [
                self._chunk(chunk) if part is None else part
                for chunk, part in zip(chunks, found, strict=True)
            ]
            if not all(found)
            else found  # type: ignore[assignment]  # no None in it
        )
        raw = tuple(chain.from_iterable(map(_WORDS, parts)))
        return Analysis(self, text, raw, None, chunks=(chunks, parts), words=len(raw))

    def _chunk(self, chunk: str) -> _Chunk:
        found = _chunk_words(chunk)
        if len(chunk) <= _CHUNK_LIMIT:
            if len(self._chunks) >= _CACHE_LIMIT:
                self._chunks.clear()
            self._chunks[chunk] = found
        return found

    def _analyze_marked(self, text: str) -> Analysis:
        raw: list[str] = []
        spans: list[tuple[int, int]] = []
        urls = mentions = hashtags = words = 0
        compounds: list[tuple[str, int, int]] = []
        for m in _TOKEN_RE.finditer(text):
            kind = m.lastgroup
            if kind == "word":
                raw.append(m.group())
                spans.append(m.span())
                words += 1
            elif kind == "url":
                urls += 1
            else:
                if kind == "mention":
                    mentions += 1
                else:
                    hashtags += 1
                span = m.span()
                body = m.group()[1:]
                if len(body) > 3:
                    compounds.append((fold(body), span[0], span[1]))
                for part in _SPLIT_RE.findall(body) if "_" in body else [body]:
                    if not part.isdigit():
                        raw.append(part)
                        spans.append(span)
        return Analysis(
            self,
            text,
            tuple(raw),
            tuple(spans),
            urls=urls,
            mentions=mentions,
            hashtags=hashtags,
            words=words,
            compounds=tuple(compounds),
        )


def normalize(text: str, normalizer: Normalizer | None = None) -> str:
    """Human-readable normal form: the stems joined by spaces (URLs, emoji dropped)."""
    return (normalizer or Normalizer()).analyze(text).key
