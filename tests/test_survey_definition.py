"""The survey definition is data: the shipped file is the committee's form word for word, and
a broken file is refused with the file and line of each problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident.surveys import DefinitionError, load_definition
from incident.surveys.definition import SHIPPED_DEFINITION

BODY = (
    "Комитета Правительства Чеченской Республики по защите прав потребителей и регулированию "
    "потребительского рынка"
)
FREQUENCY = ["Пользуюсь постоянно", "Пользуюсь время от времени", "Затрудняюсь ответить"]
YES_NO = ["Да", "Нет", "Затрудняюсь ответить"]
POINTS = ["5 баллов", "4 балла", "3 балла", "2 балла", "1 балл"]
SOURCES = [
    "Сайт Комитета",
    "Страница Комитета в социальной сети «ВКонтакте»",
    "Страница Комитета в социальной сети «Одноклассники»",
    "Телеграм-канал Комитета",
]

# The appendix to the committee's order of 24.09.2024 No. 23: (question as printed, its
# options, its rows for a table question). Tables become one row per source.
FORM: list[tuple[str, list[str], list[str]]] = [
    (
        "Вы скорее удовлетворены или скорее не удовлетворены взаимодействием с Комитетом "
        "Правительства Чеченской Республики по защите прав потребителей и регулированию "
        "потребительского рынка (далее - Комитет) в целом? (Один ответ)",
        ["Скорее удовлетворен", "Скорее не удовлетворен", "Затрудняюсь ответить"],
        [],
    ),
    (
        "Какие источники Вы используете для получения информации о деятельности Комитета? "
        "(Любое число ответов)",
        [
            "Официальный сайт Комитета",
            "Официальная страница Комитета в социальной сети «ВКонтакте»",
            "Официальная страница Комитета в социальной сети «Одноклассники»",
            "Телеграм-канал Комитета",
            "Другое",
        ],
        [],
    ),
    ("Как часто Вы пользуетесь официальным сайтом Комитета? (Один ответ)", FREQUENCY, []),
    ("Удаётся ли Вам найти требуемую информацию на сайте Комитета? (Один ответ)", YES_NO, []),
    (
        "Насколько было легко или сложно найти необходимую информацию на сайте Комитета? Дайте "
        "оценку по 5-балльной шкале, где оценка 1 означает, что найти необходимую информацию "
        "было очень тяжело, оценка 5 означает, что найти необходимую информацию было очень "
        "легко. (Один ответ)",
        POINTS,
        [],
    ),
    (
        "За получением какой информации Вы чаще всего обращаетесь на сайт Комитета? "
        "(Открытый вопрос)",
        [],
        [],
    ),
    (
        "Что, с Вашей точки зрения, необходимо изменить в информационном наполнении и/или "
        "структуре сайта Комитета? (Открытый вопрос)",
        [],
        [],
    ),
    (
        "Как часто Вы пользуетесь следующими источниками информации? (Один ответ)",
        FREQUENCY,
        SOURCES,
    ),
    (
        "Является ли для Вас интересной и полезной информация, размещаемая на следующих "
        "ресурсах? (Один ответ)",
        YES_NO,
        SOURCES,
    ),
    (
        "Считаете ли Вы, что на следующих ресурсах публикуется достаточное количество новостей "
        "и информации? Дайте оценку по 5-балльной шкале, где оценка 1 означает, что информации "
        "очень мало, оценка 5 означает, что информации много. (Один ответ)",
        ["1", "2", "3", "4", "5", "Затрудняюсь ответить"],
        SOURCES,
    ),
    (
        "Какая информация наиболее востребована Вами на страницах Комитета в социальных сетях "
        "и/или телеграм-канале? (Открытый вопрос)",
        [],
        [],
    ),
    (
        "Что, с Вашей точки зрения, необходимо изменить в ведении страниц Комитета в социальных "
        "сетях и/или телеграм-канале? (Открытый вопрос)",
        [],
        [],
    ),
    (
        "Насколько Вы удовлетворены доступностью, составом и качеством информации в целом о "
        "деятельности Комитета? Дайте оценку по 5-балльной шкале, где оценка 1 означает, что Вы "
        "полностью не удовлетворены, оценка 5 означает, что Вы полностью удовлетворены. "
        "(Один ответ)",
        POINTS,
        [],
    ),
]


def test_the_shipped_definition_is_the_committees_form_question_by_question() -> None:
    survey = load_definition(SHIPPED_DEFINITION)
    assert survey.title == (
        "Оценка удовлетворённости внешних клиентов доступностью, составом и качеством "
        f"информации о деятельности {BODY}"
    )
    assert len(survey.questions) == 13
    for q, (text, options, rows) in zip(survey.questions, FORM, strict=True):
        assert q.full_text == text
        assert [o.text for o in q.options] == options
        assert [r.text for r in q.rows] == rows
    assert [q.kind for q in survey.questions] == [
        "one", "many", "one", "one", "one", "open", "open",
        "grid", "grid", "grid", "open", "open", "one",
    ]  # fmt: skip
    # the 1-5 scales count in averages; «Затрудняюсь ответить» does not
    assert [o.score for o in survey.questions[9].options] == [1, 2, 3, 4, 5, None]


def test_the_bodys_names_are_settings_so_another_body_changes_one_table(tmp_path: Path) -> None:
    text = SHIPPED_DEFINITION.read_text(encoding="utf-8")
    other = text.replace('short_genitive = "Комитета"', 'short_genitive = "Министерства"')
    path = tmp_path / "other.toml"
    path.write_text(other, encoding="utf-8")
    survey = load_definition(path)
    assert survey.questions[2].text == "Как часто Вы пользуетесь официальным сайтом Министерства?"
    assert survey.questions[7].rows[0].text == "Сайт Министерства"


def _broken(tmp_path: Path, old: str, new: str) -> str:
    text = SHIPPED_DEFINITION.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "survey.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    return str(caught.value)


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_a_problem_names_the_file_and_the_line_of_its_question(tmp_path: Path) -> None:
    message = _broken(tmp_path, 'id = "q3"\nkind = "one"', 'id = "q3"\nkind = "choice"')
    path = tmp_path / "survey.toml"
    header = _line_of(path, 'id = "q3"') - 1  # the [[question]] line above it
    assert message == f"{path}:{header}: kind: must be one of one, many, open, grid"


def test_an_unknown_name_in_a_text_and_an_unknown_key_are_both_reported(tmp_path: Path) -> None:
    message = _broken(
        tmp_path,
        'text = "Как часто Вы пользуетесь официальным сайтом {short_genitive}?"',
        'text = "Как часто Вы пользуетесь сайтом {region}?"\ncolour = "red"',
    )
    assert "colour: unknown key" in message
    assert "text: unknown name {region}" in message
    assert len(message.splitlines()) == 2


def test_broken_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    message = _broken(tmp_path, 'kind = "open"', 'kind = "open')
    assert "not valid TOML" in message
    assert "line" in message
