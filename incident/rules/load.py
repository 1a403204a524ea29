"""Load, validate and compile ``rules/`` into a ``RuleSet``.

Layout of ``rules/`` (one TOML file per topic, plus ``_flags.toml``)::

    id = "telecom"                      # must equal the file name
    title = "Связь, интернет, почта"
    in_competence = true
    replies = ["telecom-answer", ...]    # reply ids suggested for this topic, best first
    urgent = ["нет связи со скорой"]     # phrases that make a comment urgent
    examples = ["Мегафон опять без интернета"]  # must classify to this topic

    [phrases]                           # phrase = weight; words are stemmed, case-insensitive
    "мтс" = 3
    "мобильный интернет" = 3

    [negative]                          # phrase = weight taken away from this topic
    "мтс банк" = 3

    [[redirect]]                        # only for topics out of competence: where to send people
    id = "roads"
    body = "дорожная служба администрации"
    phrases = { "яма" = 2 }

``_flags.toml`` holds the classifier settings, spam features, the obscenity list and intent
phrases. Every problem is reported with its file and key; loading fails if there is any.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from incident.rules.inflect import inflection_aliases
from incident.rules.model import (
    FLAGS_FILE,
    INTENTS,
    SPECIAL_TOPICS,
    Lexicon,
    Phrase,
    Redirect,
    RulesError,
    RuleSet,
    Settings,
    Topic,
)
from incident.text import Normalizer, fold

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: Path | str, key: str, what: str) -> None:
        name = where.name if isinstance(where, Path) else where
        self.items.append(f"{name}: {key}: {what}")


def _read_toml(path: Path, problems: _Problems) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        problems.add(path, "-", f"файл не читается как TOML: {exc}")
    except OSError as exc:
        problems.add(path, "-", f"не удалось прочитать: {exc}")
    return None


def _str_list(
    data: Mapping[str, Any], key: str, path: Path, problems: _Problems, where: str = ""
) -> list[str]:
    """``data[key]`` as stripped strings; ``where``: the table it is in, for the message."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(path, f"{where}.{key}" if where else key, "должен быть списком непустых строк")
        return []
    return [v.strip() for v in value]


def _weighted(
    data: Mapping[str, Any],
    key: str,
    path: Path,
    problems: _Problems,
    *,
    target: str,
    kind: str,
    normalizer: Normalizer,
    redirect: str | None = None,
) -> list[Phrase]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(path, key, 'должен быть таблицей строк вида "фраза" = вес')
        return []
    out: list[Phrase] = []
    for text, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            problems.add(path, f"{key}.{text}", "вес должен быть числом")
            continue
        if not 0 < float(weight) <= 20:
            problems.add(path, f"{key}.{text}", "вес должен быть больше 0 и не больше 20")
            continue
        stems = normalizer.phrase(text)
        if not stems:
            problems.add(path, f"{key}.{text}", "во фразе нет ни одного слова")
            continue
        if len(stems) == 1 and stems[0] in normalizer.stopword_stems():
            problems.add(
                path,
                f"{key}.{text}",
                f"без окончаний это {stems[0]!r}, как у частого слова (меня, за, почти...): "
                "фраза находилась бы везде; напишите фразу длиннее",
            )
            continue
        out.append(Phrase(text, stems, float(weight), target, kind, redirect))
    return out


def _plain_phrases(
    texts: Iterable[str],
    path: Path,
    key: str,
    problems: _Problems,
    *,
    target: str,
    kind: str,
    normalizer: Normalizer,
) -> list[Phrase]:
    out: list[Phrase] = []
    for text in texts:
        stems = normalizer.phrase(text)
        if not stems:
            problems.add(path, f"{key}", f"во фразе {text!r} нет ни одного слова")
            continue
        out.append(Phrase(text, stems, 0.0, target, kind))
    return out


_TOPIC_KEYS = {
    "id",
    "title",
    "in_competence",
    "replies",
    "urgent",
    "examples",
    "phrases",
    "negative",
    "redirect",
}


def _load_topic(path: Path, normalizer: Normalizer, problems: _Problems) -> Topic | None:
    data = _read_toml(path, problems)
    if data is None:
        return None
    for key in sorted(set(data) - _TOPIC_KEYS):
        problems.add(path, key, "неизвестный ключ")
    topic_id = data.get("id")
    if not isinstance(topic_id, str) or not _ID_RE.match(topic_id):
        problems.add(
            path, "id", "нужен латинский идентификатор строчными буквами, например 'trade'"
        )
        return None
    if topic_id != path.stem:
        problems.add(path, "id", f"должен совпадать с именем файла {path.stem!r}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.add(path, "title", "нужна непустая строка: название темы по-русски")
        title = topic_id
    in_competence = data.get("in_competence")
    if not isinstance(in_competence, bool):
        problems.add(path, "in_competence", "должно быть true или false")
        in_competence = False
    phrases = _weighted(
        data, "phrases", path, problems, target=topic_id, kind="positive", normalizer=normalizer
    )
    negative = _weighted(
        data, "negative", path, problems, target=topic_id, kind="negative", normalizer=normalizer
    )
    urgent = _plain_phrases(
        _str_list(data, "urgent", path, problems),
        path,
        "urgent",
        problems,
        target=topic_id,
        kind="urgent",
        normalizer=normalizer,
    )
    redirects: list[Redirect] = []
    raw_redirects = data.get("redirect", [])
    if not isinstance(raw_redirects, list):
        problems.add(path, "redirect", "должен быть списком таблиц [[redirect]]")
        raw_redirects = []
    for i, item in enumerate(raw_redirects):
        where = f"redirect[{i}]"
        if not isinstance(item, dict):
            problems.add(path, where, "должен быть таблицей")
            continue
        for key in sorted(set(item) - {"id", "body", "phrases"}):
            problems.add(path, f"{where}.{key}", "неизвестный ключ")
        rid = item.get("id")
        body = item.get("body")
        if not isinstance(rid, str) or not _ID_RE.match(rid):
            problems.add(
                path,
                f"{where}.id",
                "нужен латинский идентификатор строчными буквами, например 'roads'",
            )
            continue
        if not isinstance(body, str) or not body.strip():
            problems.add(path, f"{where}.body", "укажите ведомство, куда перенаправлять")
            continue
        rphrases = _weighted(
            item,
            "phrases",
            path,
            problems,
            target=topic_id,
            kind="positive",
            normalizer=normalizer,
            redirect=rid,
        )
        redirects.append(Redirect(rid, body, tuple(rphrases)))
    if redirects and in_competence:
        problems.add(path, "redirect", "перенаправляют только темы вне компетенции комитета")
    if not in_competence and topic_id not in SPECIAL_TOPICS and not redirects:
        problems.add(path, "redirect", "тема вне компетенции должна указать, куда перенаправлять")
    if not phrases and not any(r.phrases for r in redirects):
        problems.add(path, "phrases", "у темы должна быть хотя бы одна фраза")
    seen: dict[tuple[str, ...], str] = {}
    for phrase in [*phrases, *negative, *(p for r in redirects for p in r.phrases)]:
        earlier = seen.setdefault(phrase.stems, phrase.text)
        if earlier != phrase.text:
            problems.add(
                path,
                f"phrases.{phrase.text}",
                f"без окончаний совпадает с {earlier!r}: оставьте одну из двух",
            )
    examples = _str_list(data, "examples", path, problems)
    if not examples:
        problems.add(path, "examples", "добавьте хотя бы один пример комментария")
    replies = _str_list(data, "replies", path, problems)
    return Topic(
        id=topic_id,
        title=title.strip(),
        in_competence=in_competence,
        replies=tuple(replies),
        examples=tuple(examples),
        phrases=tuple(phrases),
        negative=tuple(negative),
        urgent=tuple(urgent),
        redirects=tuple(redirects),
        source=path,
    )


def _load_flags(
    path: Path, normalizer: Normalizer, problems: _Problems
) -> tuple[Settings, Lexicon, dict[str, tuple[Phrase, ...]]]:
    settings = Settings()
    lexicon = Lexicon(re.compile(r"(?!)"), (), True)
    intents: dict[str, tuple[Phrase, ...]] = {}
    if not path.exists():
        problems.add(path, "-", "файла нет: в нём настройки классификатора и списки слов")
        return settings, lexicon, intents
    data = _read_toml(path, problems)
    if data is None:
        return settings, lexicon, intents
    for key in sorted(set(data) - {"classifier", "abusive", "intents", "offer"}):
        problems.add(path, key, "неизвестный ключ")
    raw = data.get("classifier", {})
    values: dict[str, Any] = {}
    defaults = Settings()
    if isinstance(raw, dict):
        for key, value in raw.items():
            if not hasattr(defaults, key):
                problems.add(path, f"classifier.{key}", "неизвестная настройка")
                continue
            expected = type(getattr(defaults, key))
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.add(path, f"classifier.{key}", "должно быть числом")
                continue
            if expected is int and not isinstance(value, int):
                problems.add(path, f"classifier.{key}", "должно быть целым числом")
                continue
            if value < 0:
                problems.add(path, f"classifier.{key}", "не может быть отрицательным")
                continue
            values[key] = expected(value)
        settings = Settings(**values)
    else:
        problems.add(path, "classifier", "должен быть таблицей")
    abusive = data.get("abusive", {})
    if not isinstance(abusive, dict):
        problems.add(path, "abusive", "должен быть таблицей")
        abusive = {}
    patterns = _str_list(abusive, "patterns", path, problems)
    good: list[str] = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.add(
                path, "abusive.patterns", f"{pattern!r} — неверное регулярное выражение: {exc}"
            )
            continue
        good.append(pattern)
    masked = abusive.get("masked_obscenity", True)
    if not isinstance(masked, bool):
        problems.add(path, "abusive.masked_obscenity", "должно быть true или false")
        masked = True
    threats = _str_list(abusive, "threats", path, problems)
    offer = data.get("offer", {})
    if not isinstance(offer, dict):
        problems.add(path, "offer", "должен быть таблицей видов: [offer.имя]")
        offer = {}
    offer_words: dict[str, list[tuple[tuple[str, ...], int, str]]] = {}
    numbers: list[tuple[re.Pattern[str], str]] = []
    for kind, table in offer.items():
        where = f"offer.{kind}"
        if not isinstance(table, dict):
            problems.add(path, where, "должен быть таблицей со списками words и (или) patterns")
            continue
        for key in sorted(set(table) - {"words", "patterns"}):
            problems.add(path, f"{where}.{key}", "неизвестный ключ")
        for text in _str_list(table, "words", path, problems, where):
            words = tuple(text.lower().replace("ё", "е").split())
            longest = max(range(len(words)), key=lambda i: len(words[i]))
            offer_words.setdefault(words[longest], []).append((words, longest, kind))
        for pattern in _str_list(table, "patterns", path, problems, where):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                problems.add(path, where, f"{pattern!r} — неверное регулярное выражение: {exc}")
                continue
            if compiled.groups or compiled.match(""):
                problems.add(
                    path, where, f"{pattern!r}: без групп в скобках (пишите (?:...)) и не пустое"
                )
                continue
            numbers.append((compiled, kind))
    lexicon = Lexicon(
        re.compile(r"(?<!\S)(?:" + "|".join(f"(?:{p})" for p in good) + ")")
        if good
        else re.compile(r"(?!)"),
        tuple(good),
        masked,
        {word: tuple(found) for word, found in offer_words.items()},
        tuple(numbers),
    )
    intents["abusive"] = tuple(
        _plain_phrases(
            threats, path, "abusive.threats", problems,
            target="flag:abusive", kind="flag", normalizer=normalizer,
        )
    )  # fmt: skip
    raw_intents = data.get("intents", {})
    if not isinstance(raw_intents, dict):
        problems.add(path, "intents", "должен быть таблицей")
        raw_intents = {}
    for key in sorted(set(raw_intents) - set(INTENTS)):
        problems.add(path, f"intents.{key}", f"неизвестное намерение; есть: {', '.join(INTENTS)}")
    for name in INTENTS:
        texts = _str_list(raw_intents, name, path, problems)
        intents[name] = tuple(
            _plain_phrases(
                texts, path, f"intents.{name}", problems,
                target=f"flag:{name}", kind="flag", normalizer=normalizer,
            )
        )  # fmt: skip
    return settings, lexicon, intents


_LOADED: OrderedDict[tuple[str, bytes], RuleSet] = OrderedDict()  # the last few rule sets read
_LOADED_LIMIT = 4
_LOADED_LOCK = threading.Lock()


def load_ruleset(directory: Path) -> RuleSet:
    """Read every ``*.toml`` in ``directory``; raise ``RulesError`` listing all problems.

    A process that reads the same files again (the web app's drafts and its classifier, a
    command run in-process, each test's app) gets the rule set it built from them before:
    building one takes about half a second, its inflection tables most of it. "The same"
    means the same bytes in the same files, so an edited rule is read anew."""
    if not directory.is_dir():
        raise RulesError([f"{directory}: -: not a directory"])
    key = (str(directory.resolve()), _fingerprint(directory))
    with _LOADED_LOCK:
        found = _LOADED.get(key)
        if found is not None:
            _LOADED.move_to_end(key)
            return found
    ruleset = _read_ruleset(directory)
    with _LOADED_LOCK:
        _LOADED[key] = ruleset
        while len(_LOADED) > _LOADED_LIMIT:
            _LOADED.popitem(last=False)
    return ruleset


def _fingerprint(directory: Path) -> bytes:
    """The names and bytes of every file in ``directory`` a rule set may read."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.digest()


def _read_ruleset(directory: Path) -> RuleSet:
    problems = _Problems()
    normalizer = Normalizer()
    files = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("_"))
    topics: dict[str, Topic] = {}
    for path in files:
        topic = _load_topic(path, normalizer, problems)
        if topic is None:
            continue
        if topic.id in topics:
            problems.add(path, "id", f"тема {topic.id!r} описана дважды")
            continue
        topics[topic.id] = topic
    if not topics:
        problems.add(directory.name or str(directory), "-", "нет ни одного файла темы")
    settings, lexicon, intents = _load_flags(directory / FLAGS_FILE, normalizer, problems)
    if problems.items:
        raise RulesError(problems.items)

    digest = hashlib.sha256()
    for path in [*files, directory / FLAGS_FILE]:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")

    all_phrases: list[Phrase] = []
    for topic in topics.values():
        all_phrases.extend(topic.phrases)
        all_phrases.extend(topic.negative)
        all_phrases.extend(topic.urgent)
        for redirect in topic.redirects:
            all_phrases.extend(redirect.phrases)
    for group in intents.values():
        all_phrases.extend(group)
    grouped: dict[str, list[Phrase]] = {}
    for phrase in all_phrases:
        grouped.setdefault(phrase.stems[0], []).append(phrase)
    index = {
        key: tuple(sorted(group, key=lambda p: -len(p.stems))) for key, group in grouped.items()
    }
    vocab = sorted(
        {
            stem
            for phrase in all_phrases
            for stem in phrase.stems
            if len(stem) >= settings.fuzzy_min_length
        }
    )
    by_prefix_lists: dict[str, list[str]] = {}
    for stem in vocab:
        by_prefix_lists.setdefault(stem[:3], []).append(stem)
    by_prefix = {k: tuple(v) for k, v in by_prefix_lists.items()}
    every_stem = frozenset(stem for phrase in all_phrases for stem in phrase.stems)
    # Strong one-word phrases are also looked for inside hashtags and mentions
    # ("#яненавижусбербанк", "@MegaFonHelp"), where words are glued together.
    brands: dict[str, Phrase] = {}
    for topic in topics.values():
        for phrase in topic.phrases:
            word = fold(phrase.text)
            if len(phrase.stems) == 1 and phrase.weight >= 3 and len(word) >= 3 and word.isalnum():
                brands.setdefault(word, phrase)
    brand_pattern = (
        re.compile("|".join(re.escape(w) for w in sorted(brands, key=len, reverse=True)))
        if brands
        else re.compile(r"(?!)")
    )
    singles: dict[str, list[Phrase]] = {}
    pairs: dict[tuple[str, str], list[Phrase]] = {}
    for phrase in all_phrases:
        if len(phrase.stems) == 1:
            singles.setdefault(phrase.stems[0], []).append(phrase)
        else:
            pairs.setdefault((phrase.stems[0], phrase.stems[1]), []).append(phrase)
    return RuleSet(
        topics=topics,
        settings=settings,
        lexicon=lexicon,
        index=index,
        vocabulary_by_prefix=by_prefix,
        version=digest.hexdigest()[:16],
        normalizer=normalizer,
        intent_phrases=intents,
        brands=brands,
        order={t: i for i, t in enumerate(topics)},
        brand_pattern=brand_pattern,
        aliases=inflection_aliases(all_phrases, normalizer, every_stem),
        index_by_length={
            key: tuple((len(p.stems), p.stems, p) for p in group) for key, group in index.items()
        },
        _vocab_set=every_stem,
        singles={k: tuple(v) for k, v in singles.items()},
        starts=frozenset(first for first, _ in pairs),
        pairs={
            k: tuple((len(p.stems), p.stems, p) for p in sorted(v, key=lambda p: -len(p.stems)))
            for k, v in pairs.items()
        },
    )
