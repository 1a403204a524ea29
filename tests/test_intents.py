"""Intents that change the answer, and the kinds of spam (issue 12, part 5), on the shipped
rules and reply templates. The comments are written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident.classify import classify
from incident.models import ReplyKind
from incident.replies import Catalog, load_replies, suggest
from incident.rules import RuleSet, load_ruleset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="module")
def catalog(rules: RuleSet) -> Catalog:
    return load_replies(ROOT / "replies", rules)


@pytest.mark.parametrize(
    "text",
    ["Отличная работа, так держать!", "Спасибо, вопрос решили за один день 🙏", "Вы молодцы"],
)
def test_gratitude_gets_the_thanks_draft_first(rules: RuleSet, catalog: Catalog, text: str) -> None:
    verdict = classify(text, rules)
    assert "thanks" in verdict.flags
    drafts = suggest(verdict, catalog)
    assert drafts[0].kind == ReplyKind.THANKS


def test_thanks_naming_a_sector_keeps_the_sector(rules: RuleSet) -> None:
    verdict = classify("Спасибо, после вашего звонка магазин вернул деньги за чайник", rules)
    assert verdict.topic == "trade"
    assert "thanks" in verdict.flags


@pytest.mark.parametrize(
    "text",
    [
        "Имеет ли право магазин не менять обувь без коробки",
        "Можно ли вернуть деньги за абонемент в фитнес-клуб?",
    ],
)
def test_a_question_gets_an_answer_shaped_draft_first(
    rules: RuleSet, catalog: Catalog, text: str
) -> None:
    verdict = classify(text, rules)
    assert "question" in verdict.flags
    drafts = suggest(verdict, catalog)
    assert drafts[0].kind == ReplyKind.ANSWER
    assert drafts[0].reply_id == f"{verdict.topic}-answer"


@pytest.mark.parametrize(
    "text",
    [
        "[id100500|Ольга], так вы сами туда и не ходили",
        "Марина, вы не правы, там всегда так было",
        "@sergey_k а вы пробовали позвонить им?",
        "Полностью согласна с вами, у нас во дворе то же самое",
    ],
)
def test_citizens_talking_to_each_other_need_no_answer(
    rules: RuleSet, catalog: Catalog, text: str
) -> None:
    verdict = classify(text, rules)
    assert verdict.conversation
    assert verdict.topic == "other"
    assert suggest(verdict, catalog) == []


@pytest.mark.parametrize(
    "text",
    [
        "[club217000001|Комитет], а куда обращаться с этим?",  # to the community itself
        "Магнит, вы когда ценники поменяете?",  # to a shop, not to a neighbour
        "Люди, вы тоже без света сидите?",  # to everyone
        "Ольга, вы правы, но пусть комитет проверит этот магазин",  # turns to the committee
    ],
)
def test_addressing_the_committee_a_business_or_everyone_is_not_a_conversation(
    rules: RuleSet, text: str
) -> None:
    assert not classify(text, rules).conversation


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Дипломы и аттестаты с занесением в реестр, недорого", "документы"),
        ("Права без экзамена за неделю, пишите в ватсап", "документы"),
        ("Онлайн казино: фриспины за регистрацию", "казино"),
        ("Биткоин вырастет вдвое, успевай, обучаю трейдингу", "криптовалюта"),
        ("Работа на дому, оплата ежедневно, без вложений", "заработок"),
        ("Займы без отказа и проверки кредитной истории", "займы"),
        ("Смотрите тут https://x.example/a и тут https://x.example/b", "ссылки"),
        ("Звоните 8 (900) 000-11-22, всё расскажу", "телефон"),
    ],
)
def test_spam_of_every_kind_is_spam(rules: RuleSet, text: str, kind: str) -> None:
    verdict = classify(text, rules)
    assert verdict.topic == "spam", kind


def test_a_phone_number_and_a_link_are_named_as_reasons(rules: RuleSet) -> None:
    verdict = classify("Подробности по ссылке https://x.example или +7 900 000 11 22", rules)
    assert "номер телефона в тексте" in verdict.reasons
    assert "ссылка в комментарии" in verdict.reasons


def test_a_complaint_with_the_shops_hotline_number_stays_a_complaint(rules: RuleSet) -> None:
    verdict = classify(
        "Магазин продал просроченный творог, на горячей линии 8 800 000 00 00 не отвечают",
        rules,
    )
    assert verdict.topic == "trade"


def test_a_sellers_words_quoted_in_ones_own_complaint_are_not_a_conversation(
    rules: RuleSet,
) -> None:
    # "говорят, сам виноват" is the shop's answer reported by the citizen, and "проводить
    # экспертизу" (carry out an inspection) has nothing to do with street wires
    verdict = classify(
        "В обувном на Ленина отказались принять кроссовки, которые развалились через месяц. "
        "Говорят, сам виноват, неправильно носил. Проводить экспертизу отказываются.",
        rules,
    )
    assert verdict.topic == "trade"
    assert not verdict.conversation
    assert "other" not in dict(verdict.scores)


def test_a_citizen_blaming_another_is_still_a_conversation(rules: RuleSet) -> None:
    verdict = classify("Сами виноваты, надо было чек сохранять", rules)
    assert verdict.conversation


@pytest.mark.parametrize(
    "text",
    [
        "Ремонт холодильников на дому любых марок, звоните 8-900-000-00-00",
        "Химчистка диванов у вас дома, цены от 1500 руб, выведем любые пятна",
        "Маникюр с покрытием всего за 900р, скидка 10% на первое посещение, запись в лс",
        "Натяжные потолки 250 руб/м2 под ключ, замер бесплатно",
        "Подключим домашний интернет, роутер в подарок, оставьте заявку",
        "Кредит наличными без отказа, оформи онлайн за 5 минут",
    ],
)
def test_an_advert_for_a_service_or_goods_is_spam_whatever_sector_it_names(
    rules: RuleSet, text: str
) -> None:
    verdict = classify(text, rules)
    assert verdict.topic == "spam"
    [reason] = [r for r in verdict.reasons if r.startswith("так пишут в объявлениях: ")]
    assert "«" in reason  # the seller's own words are quoted


def test_a_customer_quoting_an_adverts_promise_is_still_complaining(rules: RuleSet) -> None:
    text = (
        "Обещали ремонт стиральной машины в день обращения и с гарантией, а по факту "
        "мастер приехал через неделю и машина опять течёт"
    )
    verdict = classify(text, rules)
    assert verdict.topic == "services"
    assert not any(r.startswith("так пишут в объявлениях") for r in verdict.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "Тариф поднялся от 450 до 650 рублей без предупреждения",  # a change of price: not "от 450"
        "Оборот 2000 тысяч у них, а зарплату не платят",  # "от" ends a word here: no "from"
    ],
)
def test_prices_told_by_a_customer_are_not_a_sellers_price(rules: RuleSet, text: str) -> None:
    verdict = classify(text, rules)
    assert not any(r.startswith("так пишут в объявлениях") for r in verdict.reasons)


@pytest.mark.parametrize(
    "text",
    ["@Марина ну а чего вы хотели за такие деньги", "[id100500|Ольга] так вы сами не ходили"],
)
def test_a_reply_opening_with_a_handle_is_a_conversation_without_a_comma(
    rules: RuleSet, text: str
) -> None:
    verdict = classify(text, rules)
    assert verdict.conversation
    assert verdict.topic == "other"


def test_a_complaint_to_a_companys_handle_is_not_a_conversation(rules: RuleSet) -> None:
    verdict = classify("@Сбербанк где мои деньги третий день", rules)
    assert not verdict.conversation
    assert verdict.topic == "finance"


@pytest.mark.parametrize(
    "text",
    [
        "от " + "1" * 100_000 + " до",  # a run of digits the price pattern must read once
        "1" * 100_000 + " р",
        "от " + " ".join(["111"] * 30_000),
        "24 / " * 20_000 + "7",
    ],
)
def test_a_long_run_of_digits_is_read_at_once_and_quoted_short(rules: RuleSet, text: str) -> None:
    """Hostile input: each of these took minutes with backtracking patterns."""
    verdict = classify(text, rules)
    assert all(len(r) < 200 for r in verdict.reasons)


def test_a_price_after_the_first_two_thousand_characters_is_not_read(rules: RuleSet) -> None:
    text = "мастер долго делал ремонт " * 100 + "натяжные потолки 250 руб/м2"
    assert len(text) > 2_000
    verdict = classify(text, rules)
    assert not any("250 руб/м2" in r for r in verdict.reasons)
