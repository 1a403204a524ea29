"""Reply templates: loading checks, ranking for a verdict, plain-language check."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident.classify import classify
from incident.replies import (
    Catalog,
    RepliesError,
    ReplyContext,
    ReplyTemplate,
    first_name,
    load_replies,
    plain_language_problems,
    suggest,
)
from incident.rules import RuleSet, load_ruleset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="module")
def catalog(rules: RuleSet) -> Catalog:
    return load_replies(ROOT / "replies", rules)


def _copy_replies(tmp_path: Path, extra: str = "", limits: str | None = None) -> Path:
    target = tmp_path / "replies"
    target.mkdir()
    for path in (ROOT / "replies").glob("*.toml"):
        (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    if extra:
        (target / "extra.toml").write_text(extra, encoding="utf-8")
    if limits is not None:
        (target / "_platforms.toml").write_text(limits, encoding="utf-8")
    return target


def _problems(tmp_path: Path, rules: RuleSet, extra: str = "", limits: str | None = None) -> str:
    with pytest.raises(RepliesError) as caught:
        load_replies(_copy_replies(tmp_path, extra, limits), rules)
    return "\n".join(caught.value.problems)


def test_unknown_placeholder_is_rejected_at_load_time(tmp_path: Path, rules: RuleSet) -> None:
    extra = '[[reply]]\nid = "x"\ntopics = ["trade"]\nkind = "answer"\ntext = "Привет, {name}!"\n'
    problems = _problems(tmp_path, rules, extra)
    assert "extra.toml: reply[0](x).text: нет такой подстановки {name}" in problems


def test_move_to_private_needs_a_reason(tmp_path: Path, rules: RuleSet) -> None:
    extra = '[[reply]]\nid = "x"\ntopics = ["*"]\nkind = "move-to-private"\ntext = "Пишите"\n'
    assert "reply[0](x).reason: приглашению в личные сообщения нужна причина" in _problems(
        tmp_path, rules, extra
    )


def test_redirect_must_name_a_known_sub_theme(tmp_path: Path, rules: RuleSet) -> None:
    extra = (
        '[[reply]]\nid = "x"\ntopics = ["other"]\nkind = "redirect"\n'
        'redirect = "moon"\ntext = "Это на Луну"\n'
    )
    assert "reply[0](x).redirect: должен быть одним из перенаправлений правил" in _problems(
        tmp_path, rules, extra
    )


def test_the_rating_link_setting_is_true_or_false(
    tmp_path: Path, rules: RuleSet, catalog: Catalog
) -> None:
    extra = (
        '[[reply]]\nid = "x"\ntopics = ["trade"]\nkind = "answer"\nrating_link = "yes"\n'
        'text = "Разберёмся"\n'
    )
    assert "reply[0](x).rating_link: должно быть true или false" in _problems(
        tmp_path, rules, extra
    )
    # shipped: the topic answers ask for the «оцените ответ» link, nothing else does
    asking = {r.id for r in catalog.replies.values() if r.rating_link}
    assert asking
    assert all(catalog.replies[rid].kind == "answer" for rid in asking)
    assert catalog.replies["thanks"].rating_link is False


def test_unknown_topic_and_duplicate_ids_are_rejected(tmp_path: Path, rules: RuleSet) -> None:
    extra = '[[reply]]\nid = "thanks"\ntopics = ["weather"]\nkind = "thanks"\ntext = "Спасибо"\n'
    problems = _problems(tmp_path, rules, extra)
    assert "reply[0](thanks).topics: нет такой темы 'weather'" in problems
    assert "ответ 'thanks' описан дважды" in problems


def test_a_rule_naming_a_missing_reply_is_reported(tmp_path: Path, rules: RuleSet) -> None:
    target = _copy_replies(tmp_path)
    common = (target / "common.toml").read_text(encoding="utf-8")
    (target / "common.toml").write_text(common.replace('id = "clarify"', 'id = "ask"'), "utf-8")
    with pytest.raises(RepliesError) as caught:
        load_replies(target, rules)
    assert any("нет шаблона ответа 'clarify'" in p for p in caught.value.problems)


def test_templates_that_may_exceed_a_platform_limit_are_rejected(
    tmp_path: Path, rules: RuleSet
) -> None:
    problems = _problems(tmp_path, rules, limits="[limits]\nvk = 300\n")
    assert "может не уложиться в ограничение vk (300 знаков)" in problems


def test_urgent_comment_gets_the_urgent_reply_first(rules: RuleSet, catalog: Catalog) -> None:
    verdict = classify("В подъезде сильный запах газа, УК не отвечает", rules)
    assert verdict.topic == "housing"
    assert "urgent" in verdict.flags
    drafts = suggest(verdict, catalog, ReplyContext())
    assert drafts[0].reply_id == "housing-urgent"
    assert "104" in drafts[0].text


def test_question_gets_the_topic_answer_first(rules: RuleSet, catalog: Catalog) -> None:
    verdict = classify("Как вернуть деньги за бракованный товар в магазине?", rules)
    drafts = suggest(verdict, catalog, ReplyContext())
    assert verdict.topic == "trade"
    assert drafts[0].kind == "answer"
    assert drafts[0].reply_id.startswith("trade-")


def test_thanks_are_offered_only_when_the_author_thanks(rules: RuleSet, catalog: Catalog) -> None:
    grateful = suggest(classify("Спасибо, Сбербанк вернул деньги!", rules), catalog)
    plain = suggest(classify("Сбербанк не вернул деньги", rules), catalog)
    assert grateful[0].reply_id == "thanks"
    assert "thanks" not in {d.reply_id for d in plain}


def test_plain_thanks_without_a_topic_get_the_thanks_reply_first(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("Спасибо вам огромное за помощь!", rules)
    drafts = suggest(verdict, catalog)
    assert verdict.topic == "other"  # thanks to the committee: out of any sector
    assert drafts[0].reply_id == "thanks"


def test_spam_gets_no_drafts(rules: RuleSet, catalog: Catalog) -> None:
    verdict = classify("Заработок без вложений https://x.example/y #деньги", rules)
    assert verdict.topic == "spam"
    assert suggest(verdict, catalog) == []


def test_unclassified_comment_gets_a_clarifying_question_first(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("Ну и что теперь?", rules)
    drafts = suggest(verdict, catalog)
    assert verdict.topic == "unclassified"
    assert drafts[0].kind == "clarify"
    assert {d.kind for d in drafts} <= {"clarify", "move-to-private"}


def test_out_of_competence_comment_gets_redirect_with_the_body_named(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("Огромные ямы на дороге по улице Мира", rules)
    first = suggest(verdict, catalog)[0]
    assert first.kind == "redirect"
    bodies = {r.id: r.body for r in rules.topics["other"].redirects}
    assert bodies["roads"] in first.text
    drafts = {d.reply_id: d for d in suggest(verdict, catalog)}
    # the other redirect drafts name their own body, not the one of the verdict
    assert bodies["networks"] in drafts["redirect-networks"].text
    assert bodies["roads"] not in drafts["redirect-networks"].text


def test_greeting_uses_the_authors_first_name(rules: RuleSet, catalog: Catalog) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    named = suggest(verdict, catalog, ReplyContext(author_first_name="Ольга"))
    anonymous = suggest(verdict, catalog, ReplyContext())
    assert named[0].text.startswith("Ольга, здравствуйте!")
    assert anonymous[0].text.startswith("Здравствуйте!")


# Author names are chosen by whoever writes the comment; the greeting is posted as the community.
HOSTILE_NAMES = [
    "[id1|@all]",  # a VK mention of everyone
    "@all",
    "Анна [club1|@all]",
    "https://evil.example",
    "vk.com/evil",
    "<b>Анна</b>",
    "*Анна*",
    '=HYPERLINK("http://evil.example","Анна")',
    "Анна\u202e!ллаг",  # a right-to-left override in the middle
    "Анна\nПодпишитесь на канал!",
    "Ан.на",
    "Анна123",
    "Анна 🌸",
    "Ἄννα",  # neither Cyrillic nor Latin
    "-Анна",
    "Анна--Мария",
    "А",
    "Анна" * 20,
    "\u200b\u2060",
    "",
    "DELETED",  # VK's name for a deleted account
    "DELETED DELETED",
]
ORDINARY_NAMES = ["Анна", "Анна-Мария", "O'Brien", "Иван Петров", "Jean-Luc", "Д’Артаньян"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_does_not_look_like_a_name_is_left_out_of_the_greeting(
    rules: RuleSet, catalog: Catalog, name: str
) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    drafts = suggest(verdict, catalog, ReplyContext(author_first_name=name))
    assert drafts[0].text.startswith("Здравствуйте! ")
    assert all("здравствуйте!" not in d.text for d in drafts)


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_an_ordinary_name_greets_the_author(rules: RuleSet, catalog: Catalog, name: str) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    drafts = suggest(verdict, catalog, ReplyContext(author_first_name=name))
    assert drafts[0].text.startswith(f"{name}, здравствуйте! ")


def test_invisible_characters_and_extra_spaces_are_dropped_from_the_name(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    name = "\u202e\u200bАнна\u00ad  \u2066Мария\u2069\ufeff"
    drafts = suggest(verdict, catalog, ReplyContext(author_first_name=name))
    assert drafts[0].text.startswith("Анна Мария, здравствуйте! ")


@pytest.mark.parametrize(
    ("author_name", "first"),
    [
        ("Иван Петров", "Иван"),
        ("Анна-Мария Сергеева", "Анна-Мария"),
        ("O'Brien", "O'Brien"),
        ("\u200fАнна", "Анна"),
        ("Анна [id1|@all]", None),
        ("[id1|@all] Анна", None),
        ('=HYPERLINK("http://evil.example")', None),
        (None, None),
    ],
)
def test_the_first_name_is_taken_from_a_name_that_looks_like_one(
    author_name: str | None, first: str | None
) -> None:
    assert first_name(author_name) == first


def test_missing_context_values_show_as_markers_and_are_listed(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    without = {d.reply_id: d for d in suggest(verdict, catalog, ReplyContext())}
    link = "https://vk.me/club1"
    filled = {d.reply_id: d for d in suggest(verdict, catalog, ReplyContext(private_link=link))}
    draft = without["private-personal-data"]
    assert draft.missing == ("private_link",)
    assert "[ссылка для личных сообщений]" in draft.text
    assert filled["private-personal-data"].missing == ()
    assert link in filled["private-personal-data"].text


def test_drafts_longer_than_the_platform_limit_are_left_out(
    rules: RuleSet, catalog: Catalog
) -> None:
    verdict = classify("МТС списал деньги за подписку", rules)
    long_link = "https://vk.me/" + "x" * 4100
    telegram = suggest(verdict, catalog, ReplyContext(platform="telegram", private_link=long_link))
    assert all(len(d.text) <= 4096 for d in telegram)
    assert "private-personal-data" not in {d.reply_id for d in telegram}
    assert "clarify" in {d.reply_id for d in telegram}


def _template(text: str) -> ReplyTemplate:
    return ReplyTemplate("t", ("*",), "answer", text, frozenset())


def test_plain_language_check_names_officialese_phrases() -> None:
    problems = plain_language_problems(_template("В целях проверки данный вопрос рассмотрим."))
    assert "канцелярит: «в целях»" in problems
    assert "канцелярит: «данный»" in problems


def test_plain_language_check_measures_long_sentences() -> None:
    sentence = " ".join(["слово"] * 30) + "."
    problems = plain_language_problems(_template(sentence))
    assert any("30 слов (предел 22)" in p for p in problems)


def test_plain_language_check_measures_length_and_long_words() -> None:
    long_text = ("Коротко. " * 80).strip()
    words = "Вышеперечисленные обстоятельства рассматриваются. Хорошо."
    measured = f"слишком длинный текст: {len(long_text)} знаков (предел 600)"
    assert measured in plain_language_problems(_template(long_text))
    assert any("много длинных слов" in p for p in plain_language_problems(_template(words)))


def test_shipped_templates_are_plain(catalog: Catalog) -> None:
    problems = {r.id: plain_language_problems(r) for r in catalog.replies.values()}
    assert {rid: p for rid, p in problems.items() if p} == {}
