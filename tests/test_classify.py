"""The topic classifier (incident.classify) on small rule sets built in each test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incident.classify import classify
from incident.models import UNCLASSIFIED
from incident.rules import RuleSet, load_ruleset

FLAGS = """
[classifier]
threshold = 2.0
url_and_hashtag = 10.0
link_only_weight = 6.0
link_only_words = 3
flood_similarity = 90.0
contentless_abuse = 2.0

[abusive]
patterns = ["(?:ни|на|по|за|о|а)?ху[йеяию]", "\\\\w*пизд", "бля(?![шн])"]
masked_obscenity = true
threats = ["убью"]

[intents]
question = ["подскажите"]
complaint = ["не работает"]
thanks = ["спасибо"]
urgent = ["запах газа"]
"""

TOPICS = {
    "telecom": """
id = "telecom"
title = "Связь"
in_competence = true
examples = ["МТС без интернета"]
[phrases]
"мтс" = 3
"ростелеком" = 3
"интернет" = 2
"поликлиника" = 0.5
""",
    "finance": """
id = "finance"
title = "Банки"
in_competence = true
examples = ["Сбербанк списал деньги"]
[phrases]
"мтс банк" = 4
"сбербанк" = 3
"кредит" = 3
"банкомат" = 3
[negative]
"кредит доверия" = 3
""",
    "medical": """
id = "medical"
title = "Медицина"
in_competence = true
urgent = ["скорая не приехала"]
examples = ["В поликлинике нет талонов"]
[phrases]
"поликлиника" = 3
"скорая" = 3
"врач" = 1
""",
    "other": """
id = "other"
title = "Вне компетенции"
in_competence = false
examples = ["Яма на дороге"]
[[redirect]]
id = "roads"
body = "дорожная служба"
phrases = { "яма" = 3, "дорога" = 2 }
[[redirect]]
id = "yards"
body = "управа района"
phrases = { "детская площадка" = 3, "двор" = 1, "дерево" = 2 }
""",
    "spam": """
id = "spam"
title = "Спам"
in_competence = false
examples = ["казино бонус"]
[phrases]
"казино" = 5
""",
}


def write_rules(directory: Path, topics: dict[str, str] = TOPICS, flags: str = FLAGS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in topics.items():
        (directory / f"{name}.toml").write_text(body, encoding="utf-8")
    (directory / "_flags.toml").write_text(flags, encoding="utf-8")
    return directory


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    return load_ruleset(write_rules(tmp_path / "rules"))


def test_topic_is_the_one_with_the_highest_summed_weight(ruleset: RuleSet) -> None:
    verdict = classify("МТС опять без интернета", ruleset)
    assert verdict.topic == "telecom"
    assert verdict.score == pytest.approx(5.0)
    assert verdict.in_competence


def test_matches_carry_spans_in_the_original_text(ruleset: RuleSet) -> None:
    text = "😡 Ёлки, в СБЕРБАНКЕ на Ленина не работает БАНКОМАТ"
    verdict = classify(text, ruleset)
    found = {m.phrase: text[m.start : m.end] for m in verdict.matches}
    assert found["сбербанк"] == "СБЕРБАНКЕ"
    assert found["банкомат"] == "БАНКОМАТ"
    assert found["не работает"] == "не работает"


def test_longest_phrase_wins_over_its_own_first_word(ruleset: RuleSet) -> None:
    verdict = classify("МТС Банк не одобрил карту", ruleset)
    assert verdict.topic == "finance"
    assert [m.phrase for m in verdict.matches if m.kind == "positive"] == ["мтс банк"]


def test_negative_phrase_takes_weight_away(ruleset: RuleSet) -> None:
    verdict = classify("Как отключить кредит доверия", ruleset)
    assert verdict.topic == UNCLASSIFIED
    negative = [m for m in verdict.matches if m.kind == "negative"]
    assert [(m.phrase, m.weight) for m in negative] == [("кредит доверия", -3.0)]


def test_a_phrase_repeated_in_one_comment_counts_once(ruleset: RuleSet) -> None:
    once = classify("сбербанк", ruleset)
    thrice = classify("сбербанк, сбербанк и ещё раз сбербанк", ruleset)
    assert thrice.score == once.score


def test_below_threshold_the_verdict_keeps_its_best_guess_marked_uncertain(
    ruleset: RuleSet,
) -> None:
    verdict = classify("была у врача", ruleset)
    assert verdict.topic == "medical"
    assert verdict.uncertain
    assert "uncertain" in verdict.flags
    assert verdict.score == pytest.approx(1.0)
    assert 0.0 < verdict.confidence <= 0.5  # half the threshold: never shown as sure


def test_an_uncertain_verdict_names_its_runner_up(ruleset: RuleSet) -> None:
    # "врач" 1.0 for medical, "двор" 1.0 for other: both below the threshold of 2.0; a tie
    # goes to the topic whose file comes first
    verdict = classify("врач во дворе", ruleset)
    assert verdict.uncertain
    assert (verdict.topic, verdict.runner_up) == ("medical", "other")
    assert verdict.runner_up_score == pytest.approx(1.0)


def test_a_comment_with_no_evidence_at_all_stays_unclassified(ruleset: RuleSet) -> None:
    verdict = classify("ну и ну, вот это да", ruleset)
    assert verdict.topic == UNCLASSIFIED
    assert not verdict.uncertain
    assert verdict.runner_up is None


def test_a_verdict_above_the_threshold_is_not_uncertain(ruleset: RuleSet) -> None:
    assert not classify("Сбербанк списал деньги", ruleset).uncertain


def test_threshold_can_be_lowered_per_call(ruleset: RuleSet) -> None:
    assert not classify("была у врача", ruleset, threshold=0.5).uncertain


def test_runner_up_is_the_second_best_topic(ruleset: RuleSet) -> None:
    # "поликлиника" counts for both topics: 3 for medical, 0.5 for telecom
    verdict = classify("В поликлинике у врача не ловит МТС", ruleset)
    assert verdict.topic == "medical"
    assert verdict.score == pytest.approx(4.0)
    assert verdict.runner_up == "telecom"
    assert verdict.runner_up_score == pytest.approx(3.5)
    assert 0 < verdict.confidence < 1


def test_a_typo_in_a_long_word_is_forgiven_and_marked(ruleset: RuleSet) -> None:
    verdict = classify("в поликлиннике очередь", ruleset)
    assert verdict.topic == "medical"
    assert any(m.fuzzy and m.phrase == "поликлиника" for m in verdict.matches)
    assert verdict.score < classify("в поликлинике очередь", ruleset).score


def test_swapped_neighbour_letters_are_forgiven_in_long_words(ruleset: RuleSet) -> None:
    verdict = classify("интерент пропал", ruleset)
    assert [m.phrase for m in verdict.matches if m.fuzzy] == ["интернет"]


def test_inflected_forms_that_the_stemmer_cuts_differently_still_match(ruleset: RuleSet) -> None:
    # snowball: "ростелеком" -> "ростелек" but "ростелекоме" -> "ростелеком"
    for text in ("Ростелеком", "в Ростелекоме", "у Ростелекома"):
        verdict = classify(text, ruleset)
        assert verdict.topic == "telecom", text
        assert not any(m.fuzzy for m in verdict.matches)


def test_a_word_that_only_extends_a_rule_word_is_not_taken_for_a_typo(
    ruleset: RuleSet,
) -> None:
    # "деревня" (stem "деревн") is one letter longer than "дерево" (stem "дерев")
    assert classify("в деревне", ruleset).matches == ()
    assert classify("упало дерево", ruleset).topic == "other"


def test_short_words_are_not_corrected(ruleset: RuleSet) -> None:
    # "врач" has a stem of 4 letters: "врат" must not become it
    verdict = classify("открыли врата", ruleset)
    assert verdict.matches == ()


def test_link_with_hashtags_is_spam_with_a_reason(ruleset: RuleSet) -> None:
    verdict = classify("#Кредит сбербанк без справок http://t.co/abc", ruleset)
    assert verdict.topic == "spam"
    assert "ссылка вместе с хештегами" in verdict.reasons
    assert verdict.runner_up == "finance"


def test_bare_link_is_spam(ruleset: RuleSet) -> None:
    verdict = classify("смотри https://example.com/x", ruleset)
    assert verdict.topic == "spam"
    assert "ссылка почти без текста" in verdict.reasons


def test_the_authors_repeated_text_is_flood(ruleset: RuleSet) -> None:
    text = "Верните мне деньги за услугу, которую я не заказывал"
    fresh = classify(text, ruleset)
    repeated = classify(
        text, ruleset, history=["верните мне деньги за услугу, которую я не заказывал!"]
    )
    assert "flood" not in fresh.flags
    assert "flood" in repeated.flags
    assert repeated.topic == "spam"
    assert "автор уже присылал этот текст" in repeated.reasons


def test_one_word_repeated_many_times_is_flood(ruleset: RuleSet) -> None:
    verdict = classify("ответьте " * 12, ruleset)
    assert "flood" in verdict.flags
    assert verdict.topic == "spam"


def test_obscenity_sets_the_abusive_flag_but_keeps_a_real_topic(ruleset: RuleSet) -> None:
    text = "МТС, бля, интернет опять пропал"
    verdict = classify(text, ruleset)
    assert verdict.topic == "telecom"
    assert "abusive" in verdict.flags
    abusive = [m for m in verdict.matches if m.kind == "abusive"]
    assert [text[m.start : m.end] for m in abusive] == ["бля"]


@pytest.mark.parametrize("word", ["х*й", "п**дец", "xyй", "хуууй", "ПИЗДЕЦ"])
def test_obfuscated_obscenity_is_recognised(ruleset: RuleSet, word: str) -> None:
    assert "abusive" in classify(f"да {word} вам", ruleset).flags


def test_ordinary_words_that_contain_obscene_letters_are_not_abusive(ruleset: RuleSet) -> None:
    verdict = classify("страхует, оскорбляет, употребляет, хлеб и небо", ruleset)
    assert "abusive" not in verdict.flags


def test_abuse_without_any_topic_is_spam(ruleset: RuleSet) -> None:
    verdict = classify("да пошли вы нахуй", ruleset)
    assert verdict.topic == "spam"
    assert "ругань без сути обращения" in verdict.reasons


def test_threat_phrase_is_abusive(ruleset: RuleSet) -> None:
    assert "abusive" in classify("я вас убью", ruleset).flags


def test_urgent_phrases_of_topics_and_intents_set_the_urgent_flag(ruleset: RuleSet) -> None:
    assert "urgent" in classify("Вызвали, а скорая не приехала", ruleset).flags
    assert "urgent" in classify("В подъезде запах газа", ruleset).flags
    assert "urgent" not in classify("Скорая приехала быстро", ruleset).flags


def test_intent_flags(ruleset: RuleSet) -> None:
    assert "question" in classify("МТС, почему нет связи?", ruleset).flags
    assert "question" in classify("подскажите где банкомат", ruleset).flags
    assert "thanks" in classify("Спасибо сбербанку", ruleset).flags
    assert "complaint" in classify("банкомат не работает", ruleset).flags


def test_brand_glued_into_a_hashtag_or_mention_is_found(ruleset: RuleSet) -> None:
    verdict = classify("#яненавижусбербанк", ruleset)
    assert verdict.topic == "finance"
    assert classify("#мтсговно", ruleset).topic == "telecom"
    assert classify("@мтс_помощь", ruleset).topic == "telecom"


def test_out_of_competence_verdict_names_the_redirect_sub_theme(ruleset: RuleSet) -> None:
    roads = classify("Огромная яма на дороге у дома", ruleset)
    yards = classify("Во дворе сломана детская площадка", ruleset)
    assert (roads.topic, roads.redirect, roads.in_competence) == ("other", "roads", False)
    assert (yards.topic, yards.redirect) == ("other", "yards")
    assert classify("МТС без интернета", ruleset).redirect is None


@pytest.mark.parametrize("text", ["", "   ", "🔥🔥🔥", "!!! ??? ...", "12345 678"])
def test_contentless_input_is_unclassified(ruleset: RuleSet, text: str) -> None:
    verdict = classify(text, ruleset)
    assert verdict.topic == UNCLASSIFIED
    assert verdict.matches == ()


def test_huge_mixed_script_input_is_classified(ruleset: RuleSet) -> None:
    words = " ".join(f"слово{i} Bank🤬" for i in range(8000))
    text = f"Сбербанк: банкомат не работает. {words}"
    assert len(text) > 100_000
    verdict = classify(text, ruleset)
    assert verdict.topic == "finance"
    assert "flood" not in verdict.flags


def test_huge_input_repeating_one_sentence_is_flood(ruleset: RuleSet) -> None:
    text = "Сбербанк 🤬 Bank ATM банкомат не работает!!! " * 2500
    verdict = classify(text, ruleset)
    assert "flood" in verdict.flags
    assert verdict.topic == "spam"


def test_verdict_json_is_serialisable_and_complete(ruleset: RuleSet) -> None:
    text = "Сбербанк, верните деньги?"
    payload = json.loads(json.dumps(classify(text, ruleset).to_json(), ensure_ascii=False))
    assert payload["topic"] == "finance"
    assert payload["flags"] == ["question"]
    assert payload["ruleset_version"] == ruleset.version
    (match,) = [m for m in payload["matches"] if m["kind"] == "positive"]
    start, end = match["span"]
    assert text[start:end] == "Сбербанк"


def test_ruleset_version_changes_when_a_rule_file_changes(tmp_path: Path) -> None:
    first = load_ruleset(write_rules(tmp_path / "a"))
    again = load_ruleset(write_rules(tmp_path / "b"))
    changed = dict(TOPICS, telecom=TOPICS["telecom"] + '"билайн" = 3\n')
    other = load_ruleset(write_rules(tmp_path / "c", changed))
    assert first.version == again.version
    assert other.version != first.version
    assert classify("Билайн", other).topic == "telecom"
