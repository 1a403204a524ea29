"""Repeats and mass issues: which comments say the same thing, and what they are about.

Pure (no I/O, no clock). The inbox asks it, when a comment opens an incident, whether the
comment repeats one of the open incidents of the last day (``find_repeat``); the warning step
asks it which organisations and addresses the open incidents name (``entities``).

Two comments are near-duplicates when

* the same author wrote them and their words mostly agree (rapidfuzz ``token_set_ratio`` of
  the folded texts at least ``SAME_AUTHOR_SCORE``, for texts of ``SAME_AUTHOR_WORDS`` words or
  more; shorter ones only when they are the same): one person repeating under several posts;
* different authors wrote texts of at least ``MIN_WORDS`` words whose words agree almost
  entirely (``token_sort_ratio`` at least ``OTHERS_SCORE``): a copied complaint;
* or they name the same organisation or address (``entities``; one of them may write the
  organisation bare, as a capitalised word: ``capitalised``) and their topics do not disagree
  (the same topic, or one of them has none).

Texts that both carry numbers are near-duplicates by their words only when the numbers are the
same: «заказ 5» and «заказ 17», «дом 3» and «дом 30» are different matters.

Organisations are names in quotes («Пятёрочка», "Ромашка") or after a legal form (ООО, ИП,
АО...) or a kind of place (магазин, аптека, клиника...) written with a capital letter;
addresses are a street word (ул., улица, проспект, переулок, шоссе, бульвар, площадь,
микрорайон) followed by a capitalised name and, when given, the house number. Keys are
case-folded, ё -> е, with a crude inflection ending cut, so «в аптеке "Ригла"» and «аптека
Ригла» share ``org:ригл``; «на улице Ленина, 5» and «ул. Ленина д. 5» share ``addr:ленин 5``.

``personalise`` puts each author's greeting («Анна, здравствуйте!», or «Здравствуйте!» when the
name is missing or does not look like a name) at the head of one answer written for a group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from incident.replies.names import first_name

__all__ = [
    "MIN_WORDS",
    "OTHERS_SCORE",
    "SAME_AUTHOR_SCORE",
    "Earlier",
    "Signature",
    "capitalised",
    "entities",
    "find_repeat",
    "named_entities",
    "near_duplicate",
    "personalise",
    "signature",
]

SAME_AUTHOR_SCORE = 75.0
SAME_AUTHOR_WORDS = 3  # shorter texts of one author are a repeat only when they are the same
OTHERS_SCORE = 88.0
MIN_WORDS = 4  # a copied complaint is a sentence, not «Безобразие!»
MAX_TEXT = 2000  # characters compared: a long text's head says what it is about
MAX_ENTITIES = 8  # keys kept per comment
MAX_HITS = 32  # text matches checked per search, the earliest first

_QUOTED = re.compile(r"[«\"“„]([A-ZА-ЯЁ0-9][^«»\"“”„\n]{1,59})[»\"”“]")
_LEGAL = re.compile(
    r"\b(?:ООО|ОАО|ЗАО|ПАО|АО|ИП|МУП|ГУП|ФГУП|ТСЖ|УК)\s+[«\"“]?"
    r"([A-ZА-ЯЁ][\w-]{1,40}(?:\s[A-ZА-ЯЁ][\w-]{1,40})?)"
)
_PLACE = re.compile(
    r"\b(?i:магазин|аптек|кафе|ресторан|салон|клиник|поликлиник|супермаркет|гипермаркет|"
    r"ТЦ|ТРЦ|банк|столов|пекарн|автосалон|фитнес-клуб|химчистк|ателье)[а-яё]{0,4}\s+"
    r"([A-ZА-ЯЁ][\w-]{1,40})"
)
_STREET = re.compile(
    r"(?<![\w-])(?i:ул\.?|улиц[аеуыой]{1,2}|пр-т\.?|пр-кт\.?|просп\.?|проспект[аеу]?|пер\.?|"
    r"переул(?:ок|ке|ка|ку)|ш\.|шоссе|б-р\.?|бульвар[аеу]?|пл\.|площад[ьи]|мкр\.?|"
    r"микрорайон[аеу]?)\s*"
    r"((?:\d{1,3}-?[а-яё]{0,3}\s)?[A-ZА-ЯЁ][а-яёa-z-]{1,30}(?:\s[A-ZА-ЯЁ][а-яёa-z-]{1,30})?)"
    r"(?:,?\s*(?:д\.|дом)?\s*(\d{1,4}(?:\s?[а-яё](?![а-яё]))?))?"
)
_NUMBER = re.compile(r"\d+")
_CAPITAL = re.compile(r"(?<![\w-])[A-ZА-ЯЁ][a-zа-яё-]{3,30}(?![\w-])")
_ENDING = re.compile(r"(?:ая|ой|ую|ого|ому|ом|ый|ий|ые|ых|ам|ах|ов|ев|ей|[аеиоуыьйяю])$")
_NOISE_WORDS = ("здравствуйте", "спасибо", "добрый день", "помогите", "внимание", "почему")
_GREETING = re.compile(
    r"^\s*(?:[^\W\d_][\w'’ʼ -]{0,60},\s*)?(?:здравствуйте|добрый\s+(?:день|вечер|утро))[!.,]?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Signature:
    """What a comment is compared by: its author (platform and id), its folded text and its
    number of words, its organisation and address keys, and its topic."""

    author: str
    text: str
    words: int
    entities: frozenset[str]
    topic: str | None
    names: frozenset[str] = frozenset()  # ``capitalised``: may match another's entity
    numbers: frozenset[str] = frozenset()  # order, house, route numbers: they must agree


@lru_cache(maxsize=65536)
def _key(name: str) -> str:
    words = re.findall(r"[^\W_]+", name.casefold().replace("ё", "е"))
    cut = [w if len(w) <= 3 or w.isdigit() else _ENDING.sub("", w) for w in words]
    return " ".join(w for w in cut if w)


_NOISE = frozenset(_key(w) for w in _NOISE_WORDS)


def named_entities(text: str) -> dict[str, str]:
    """The organisations (``org:...``) and addresses (``addr:...``) a text names: each key
    with the words as the text first wrote them (at most ``MAX_ENTITIES``)."""
    text = text[:MAX_TEXT]
    found: dict[str, str] = {}
    for pattern in (_QUOTED, _LEGAL, _PLACE):
        for match in pattern.finditer(text):
            key = _key(match.group(1))
            if key and len(key) >= 2 and key not in _NOISE and not key.isdigit():
                found.setdefault(f"org:{key}", " ".join(match.group(1).split()))
    for match in _STREET.finditer(text):
        street = _key(match.group(1))
        if street:
            house = (match.group(2) or "").replace(" ", "").casefold()
            found.setdefault(f"addr:{street} {house}".rstrip(), " ".join(match.group(0).split()))
    return {key: found[key] for key in sorted(found)[:MAX_ENTITIES]}


def entities(text: str) -> frozenset[str]:
    """The keys of ``named_entities``."""
    return frozenset(named_entities(text))


def capitalised(text: str) -> frozenset[str]:
    """``org:`` keys of the capitalised words of a text: an organisation one comment puts in
    quotes («Пятёрочка») another often writes bare (Пятёрочка обсчитала)."""
    words = _CAPITAL.findall(text[:MAX_TEXT])
    keys = {_key(w) for w in words}
    return frozenset(f"org:{k}" for k in keys if len(k) >= 3 and k not in _NOISE)


@lru_cache(maxsize=8192)
def signature(author: str, text: str, topic: str | None) -> Signature:
    """The comparable form of a comment (``author``: platform and author id, e.g. ``vk:5``).
    Memoised: ingest compares each new comment with the same recent ones again and again."""
    folded = default_process(text[:MAX_TEXT].replace("ё", "е").replace("Ё", "Е"))
    numbers = frozenset(_NUMBER.findall(folded))
    words = len(folded.split())
    return Signature(author, folded, words, entities(text), topic, capitalised(text), numbers)


def _topics_agree(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def near_duplicate(a: Signature, b: Signature) -> bool:
    """Whether ``a`` and ``b`` say the same thing (see the module's docstring)."""
    if not a.text or not b.text:
        return False
    # order 5 and order 17, house 3 and house 30: different matters, whatever the words
    numbers_agree = not (a.numbers and b.numbers) or a.numbers == b.numbers
    if numbers_agree and a.author == b.author:
        if a.text == b.text or (
            min(a.words, b.words) >= SAME_AUTHOR_WORDS
            and fuzz.token_set_ratio(a.text, b.text, score_cutoff=SAME_AUTHOR_SCORE)
        ):
            return True
    elif (
        numbers_agree
        and a.author != b.author
        and min(a.words, b.words) >= MIN_WORDS
        and fuzz.token_sort_ratio(a.text, b.text, score_cutoff=OTHERS_SCORE)
    ):
        return True
    shared = a.entities & (b.entities | b.names) or b.entities & a.names
    return bool(shared) and _topics_agree(a.topic, b.topic)


def find_repeat(new: Signature, earlier: Sequence[Signature]) -> int | None:
    """The index in ``earlier`` of the comment ``new`` repeats (the first one, in the given
    order), or None. ``Earlier`` answers the same question faster for many comments."""
    for index, candidate in enumerate(earlier):
        if near_duplicate(new, candidate):
            return index
    return None


class Earlier:
    """The comments a new one is compared with, indexed so that one comparison costs a
    rapidfuzz search in C over the texts plus a look-up by author and by organisation or
    address, not a Python loop over every comment. ``find(new)`` is ``find_repeat(new,
    earlier)``; ``add`` appends."""

    def __init__(self, signatures: Sequence[Signature] = ()) -> None:
        self.signatures: list[Signature] = []
        self._texts: list[str] = []
        self._by_author: dict[str, list[int]] = {}
        self._by_entity: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}  # capitalised words: matched to entities only
        for sig in signatures:
            self.add(sig)

    def __len__(self) -> int:
        return len(self.signatures)

    def add(self, sig: Signature) -> None:
        index = len(self.signatures)
        self.signatures.append(sig)
        # token_sort_ratio is ratio on the sorted words: sorted once here, not at each search
        self._texts.append(comparable(sig))
        self._by_author.setdefault(sig.author, []).append(index)
        for key in sig.entities:
            self._by_entity.setdefault(key, []).append(index)
        for key in sig.names:
            self._by_name.setdefault(key, []).append(index)

    @property
    def texts(self) -> Sequence[str]:
        """The compared form of each comment's text (its words sorted; "" when too short to
        compare with others'), in order: what ``find`` searches with ``fuzz.ratio``."""
        return self._texts

    def find(
        self,
        new: Signature,
        since: int = 0,
        until: int | None = None,
        text_hits: Iterable[int] | None = None,
    ) -> int | None:
        """The earliest of the comments from index ``since`` up to ``until`` (excluded; all by
        default) that ``new`` repeats. ``text_hits``: the indices whose ``texts`` match
        ``new``'s at ``OTHERS_SCORE`` or more, when the caller searched them already (for many
        comments at once, see ``incident.inbox.repeats``); else they are searched here."""
        end = len(self.signatures) if until is None else until
        maybe: set[int] = set(self._by_author.get(new.author, ()))
        for key in new.entities | new.names:  # as near_duplicate's shared organisations
            maybe.update(self._by_entity.get(key, ()))
        for key in new.entities:
            maybe.update(self._by_name.get(key, ()))
        if text_hits is not None:
            maybe.update(islice((i for i in text_hits if since <= i < end), MAX_HITS))
        elif new.words >= MIN_WORDS and end > since:
            # the earliest copies, in order (a few, as numbers may still disagree)
            matches = process.extract_iter(
                comparable(new),
                self._texts[since:end] if since or end < len(self._texts) else self._texts,
                scorer=fuzz.ratio,
                score_cutoff=OTHERS_SCORE,
            )
            maybe.update(since + index for _, _, index in islice(matches, MAX_HITS))
        for index in sorted(maybe):
            if since <= index < end and near_duplicate(new, self.signatures[index]):
                return index
        return None


def comparable(sig: Signature) -> str:
    """The form of ``sig``'s text that ``Earlier`` compares with ``fuzz.ratio``: its words
    sorted (so the ratio is ``token_sort_ratio``), or "" when too short to compare."""
    return " ".join(sorted(sig.text.split())) if sig.words >= MIN_WORDS else ""


def personalise(text: str, author_name: str | None) -> str:
    """``text`` with its opening greeting (if any) replaced by one for ``author_name``."""
    name = first_name(author_name)
    greeting = f"{name}, здравствуйте!" if name else "Здравствуйте!"
    body = _GREETING.sub("", text.strip(), count=1).lstrip()
    return f"{greeting} {body}" if body else greeting
