"""Consistency of the shipped rules/ and replies/, and the rule loader's validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incident.classify import classify
from incident.replies import PRIVATE_REASONS, ReplyContext, load_replies, suggest
from incident.rules import RulesError, RuleSet, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
REPLIES = ROOT / "replies"
EXPECTED_TOPICS = {
    "trade",
    "services",
    "food",
    "telecom",
    "finance",
    "transport",
    "housing",
    "medical",
    "other",
    "spam",
}


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_ruleset(RULES)


def _examples() -> list[tuple[str, str]]:
    ruleset = load_ruleset(RULES)
    return [(t.id, e) for t in ruleset.topics.values() for e in t.examples]


def test_every_topic_of_the_issue_has_a_rule_file(shipped: RuleSet) -> None:
    assert set(shipped.topics) == EXPECTED_TOPICS


def test_only_other_and_spam_are_out_of_competence(shipped: RuleSet) -> None:
    outside = {t.id for t in shipped.topics.values() if not t.in_competence}
    assert outside == {"other", "spam"}


def test_every_rule_file_carries_at_least_three_examples(shipped: RuleSet) -> None:
    thin = {t.id: len(t.examples) for t in shipped.topics.values() if len(t.examples) < 3}
    assert thin == {}


@pytest.mark.parametrize(("topic", "example"), _examples())
def test_rule_example_classifies_to_its_topic(shipped: RuleSet, topic: str, example: str) -> None:
    verdict = classify(example, shipped)
    assert verdict.topic == topic, verdict.scores


def test_out_of_competence_rules_name_a_body_for_each_sub_theme(shipped: RuleSet) -> None:
    other = shipped.topics["other"]
    ids = {r.id for r in other.redirects}
    assert {"roads", "networks", "yards", "animals", "education"} <= ids
    assert all(r.body.strip() for r in other.redirects)


def test_every_reply_id_a_rule_names_exists(shipped: RuleSet) -> None:
    catalog = load_replies(REPLIES, shipped)
    named = {rid for t in shipped.topics.values() for rid in t.replies}
    assert named <= set(catalog.replies)


def test_every_in_competence_topic_is_offered_an_answer_draft(shipped: RuleSet) -> None:
    catalog = load_replies(REPLIES, shipped)
    for topic in shipped.topics.values():
        if not topic.in_competence:
            continue
        verdict = classify(topic.examples[0], shipped)
        drafts = suggest(verdict, catalog, ReplyContext())
        assert "answer" in {d.kind for d in drafts}, topic.id
        reasons = {
            catalog.replies[d.reply_id].reason for d in drafts if d.kind == "move-to-private"
        }
        assert set(PRIVATE_REASONS) <= reasons, topic.id


def test_each_redirect_sub_theme_gets_its_redirect_draft_first(shipped: RuleSet) -> None:
    catalog = load_replies(REPLIES, shipped)
    samples = {
        "roads": "Яма на дороге возле дома",
        "networks": "Не горят фонари на улице",
        "yards": "Во дворе сломаны качели",
        "animals": "Стая собак у школы, нужен отлов",
        "education": "В детском саду не хватает воспитателей",
        "order": "Соседи по ночам включают громкую музыку",
        "environment": "С завода идут выбросы, неприятный запах",
    }
    for redirect, text in samples.items():
        verdict = classify(text, shipped)
        assert (verdict.topic, verdict.redirect) == ("other", redirect), text
        first = suggest(verdict, catalog, ReplyContext())[0]
        assert catalog.replies[first.reply_id].redirect == redirect


def test_rule_set_loads_all_phrases_into_the_index(shipped: RuleSet) -> None:
    phrases = sum(len(t.phrases) + sum(len(r.phrases) for r in t.redirects)
                  for t in shipped.topics.values())  # fmt: skip
    indexed = {p for group in shipped.index.values() for p in group if p.kind == "positive"}
    assert len(indexed) == phrases


# --------------------------------------------------------------------------- validation

GOOD_FLAGS = '[classifier]\nthreshold = 1.0\n[abusive]\npatterns = ["бля"]\n'
GOOD_TOPIC = """
id = "telecom"
title = "Связь"
in_competence = true
examples = ["МТС"]
[phrases]
"мтс" = 3
"""


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    for name, body in files.items():
        (directory / name).write_text(body, encoding="utf-8")
    return directory


def _problems(tmp_path: Path, files: dict[str, str]) -> str:
    with pytest.raises(RulesError) as caught:
        load_ruleset(_write(tmp_path / "rules", files))
    return "\n".join(caught.value.problems)


def test_a_valid_minimal_rule_set_loads(tmp_path: Path) -> None:
    ruleset = load_ruleset(
        _write(tmp_path / "rules", {"telecom.toml": GOOD_TOPIC, "_flags.toml": GOOD_FLAGS})
    )
    assert list(ruleset.topics) == ["telecom"]


def test_unknown_keys_are_reported_with_file_and_key(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, {"telecom.toml": 'colour = "red"\n' + GOOD_TOPIC, "_flags.toml": GOOD_FLAGS}
    )
    assert "telecom.toml: colour: неизвестный ключ" in problems


def test_the_id_must_match_the_file_name(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"finance.toml": GOOD_TOPIC, "_flags.toml": GOOD_FLAGS})
    assert "finance.toml: id: должен совпадать с именем файла 'finance'" in problems


def test_weights_must_be_positive_numbers(tmp_path: Path) -> None:
    body = GOOD_TOPIC + '"билайн" = "много"\n"мегафон" = -1\n'
    problems = _problems(tmp_path, {"telecom.toml": body, "_flags.toml": GOOD_FLAGS})
    assert "telecom.toml: phrases.билайн: вес должен быть числом" in problems
    assert "telecom.toml: phrases.мегафон: вес должен быть больше 0" in problems


def test_a_phrase_that_stems_like_a_common_word_is_rejected(tmp_path: Path) -> None:
    body = GOOD_TOPIC + '"меню" = 3\n'
    problems = _problems(tmp_path, {"telecom.toml": body, "_flags.toml": GOOD_FLAGS})
    assert "telecom.toml: phrases.меню: без окончаний это 'мен'" in problems


def test_two_phrases_with_the_same_stems_are_reported(tmp_path: Path) -> None:
    body = GOOD_TOPIC + '"МТС" = 2\n"абонент" = 2\n"абоненты" = 2\n'
    problems = _problems(tmp_path, {"telecom.toml": body, "_flags.toml": GOOD_FLAGS})
    assert "telecom.toml: phrases.абоненты: без окончаний совпадает с 'абонент'" in problems


def test_topics_need_examples_and_out_of_competence_ones_a_redirect(tmp_path: Path) -> None:
    body = 'id = "other"\ntitle = "Прочее"\nin_competence = false\n[phrases]\n"яма" = 2\n'
    problems = _problems(tmp_path, {"other.toml": body, "_flags.toml": GOOD_FLAGS})
    assert "other.toml: examples: добавьте хотя бы один пример комментария" in problems
    assert (
        "other.toml: redirect: тема вне компетенции должна указать, куда перенаправлять" in problems
    )


def test_broken_toml_and_bad_patterns_are_reported(tmp_path: Path) -> None:
    flags = '[abusive]\npatterns = ["(незакрытая"]\n[classifier]\nspeed = 3\n'
    problems = _problems(tmp_path, {"telecom.toml": "id = [", "_flags.toml": flags})
    assert "telecom.toml: -: файл не читается как TOML" in problems
    assert (
        "_flags.toml: abusive.patterns: '(незакрытая' — неверное регулярное выражение" in problems
    )
    assert "_flags.toml: classifier.speed: неизвестная настройка" in problems


def test_missing_flags_file_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"telecom.toml": GOOD_TOPIC})
    assert "_flags.toml: -: файла нет" in problems


def test_the_same_rule_files_are_built_once_per_process_and_an_edited_one_anew(
    tmp_path: Path,
) -> None:
    # the web app and every test's app read the same files again: building takes ~0.5 s
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    first = load_ruleset(rules)
    assert load_ruleset(rules) is first
    trade = rules / "trade.toml"
    trade.write_text(trade.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = load_ruleset(rules)
    assert edited is not first
    assert edited.version != first.version
    assert load_ruleset(rules) is edited


def test_a_sellers_wording_is_checked_kind_by_kind(tmp_path: Path) -> None:
    flags = (
        GOOD_FLAGS
        + '[offer.price]\npatterns = ["(незакрытая", "(от) \\\\d+", "\\\\d*"]\ncolour = 1\n'
        + '[offer.call]\nwords = ["звоните", 5]\n'
        + "[offer]\nloose = 1\n"
    )
    problems = _problems(tmp_path, {"telecom.toml": GOOD_TOPIC, "_flags.toml": flags})
    assert "_flags.toml: offer.price: '(незакрытая' — неверное регулярное выражение" in problems
    # patterns are shown as Python writes them, a backslash doubled
    assert "_flags.toml: offer.price: '(от) \\\\d+': без групп в скобках" in problems
    assert (
        "_flags.toml: offer.price: '\\\\d*': без групп в скобках (пишите (?:...)) и не пустое"
        in problems
    )
    assert "_flags.toml: offer.price.colour: неизвестный ключ" in problems
    assert "_flags.toml: offer.call.words: должен быть списком непустых строк" in problems
    assert (
        "_flags.toml: offer.loose: должен быть таблицей со списками words и (или) patterns"
        in problems
    )


def test_a_sellers_words_are_looked_up_by_their_longest_word(tmp_path: Path) -> None:
    flags = GOOD_FLAGS + '[offer.call]\nwords = ["Звоните", "запись в ЛС"]\n'
    ruleset = load_ruleset(
        _write(tmp_path / "rules", {"telecom.toml": GOOD_TOPIC, "_flags.toml": flags})
    )
    assert ruleset.lexicon.offer_words == {
        "звоните": ((("звоните",), 0, "call"),),
        "запись": ((("запись", "в", "лс"), 0, "call"),),
    }
