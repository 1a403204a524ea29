"""Normalisation of Russian social-media text (incident.text)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from incident.text import _WORD_RE, Normalizer, fold, normalize


def test_case_and_yo_are_folded() -> None:
    assert fold("ЁЛКА") == fold("елка") == "елка"


def test_latin_lookalikes_become_cyrillic_in_mixed_words() -> None:
    # "cбербанк" starts with a latin "c"; "xyй" is written with latin x and y
    assert fold("cбербанк") == "сбербанк"
    assert fold("xyй") == "хуй"


def test_purely_latin_words_are_left_latin() -> None:
    assert fold("MTS") == "mts"
    assert fold("Beeline") == "beeline"


def test_runs_of_three_or_more_letters_are_squeezed_but_double_letters_stay() -> None:
    assert fold("оооочень") == "очень"
    assert fold("такааая") == "такая"
    assert fold("касса") == "касса"


def test_common_misspellings_map_to_the_written_word() -> None:
    n = Normalizer()
    assert n.stem("инет") == n.stem("интернет")
    assert n.stem("спс") == n.stem("спасибо")


def test_inflected_forms_share_a_stem() -> None:
    assert normalize("Сбербанке") == normalize("сбербанка") == normalize("Сбербанк")
    assert normalize("управляющей компании") == normalize("Управляющая компания")


def test_urls_mentions_and_hashtags_are_counted_and_their_words_kept() -> None:
    a = Normalizer().analyze("@ru_mts верните деньги http://t.co/abc #Кредит www.example.ru")
    assert (a.urls, a.mentions, a.hashtags) == (2, 1, 1)
    assert "mts" in a.raw
    assert "Кредит" in a.raw
    assert not any("t.co" in w or "example" in w for w in a.raw)


def test_each_token_span_points_at_the_word_in_the_original_text() -> None:
    text = "😡 ЁЖИКИ в Сбербанке!!! @Beeline_RUS оооочень плохо"
    a = Normalizer().analyze(text)
    spans = a.spans
    assert len(spans) == len(a.raw)
    for raw, (start, end) in zip(a.raw, spans, strict=True):
        assert raw in text[start:end]


def test_spans_of_plain_text_are_located_on_demand() -> None:
    text = "раз два три четыре"
    a = Normalizer().analyze(text)
    assert a.span(1) == (4, 7)
    assert a.spans == ((0, 3), (4, 7), (8, 11), (12, 18))


def test_empty_and_emoji_only_input_give_no_words() -> None:
    n = Normalizer()
    assert n.analyze("").raw == ()
    emoji = n.analyze("🔥🔥🔥 👍")
    assert emoji.raw == ()
    assert emoji.emoji == 4


def test_huge_input_is_tokenised_completely() -> None:
    text = "Жалоба на магазин, верните деньги. " * 3000  # about 100 kB
    a = Normalizer().analyze(text)
    assert len(text) > 100_000
    assert len(a.raw) == 5 * 3000


def test_masked_obscenity_keeps_its_star_inside_one_token() -> None:
    assert Normalizer().analyze("ну х*й с ним").raw == ("ну", "х*й", "с", "ним")


def test_hyphenated_words_split_like_rule_phrases_do() -> None:
    n = Normalizer()
    assert n.analyze("Альфа-Банк").stems == n.phrase("альфа банк")


@given(st.text(max_size=300))
def test_any_text_is_analysed_with_one_span_per_word(text: str) -> None:
    a = Normalizer().analyze(text)
    assert len(a.spans) == len(a.raw) == len(a.stems) == len(a.forms)
    for start, end in a.spans:
        assert 0 <= start < end <= len(text)


_PLAIN = st.text(
    alphabet=st.sampled_from(list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяABCxyz019 ,.!?*-\n😀")),
    max_size=200,
)


@given(_PLAIN)
def test_fast_and_marked_tokenisers_agree_on_plain_text(text: str) -> None:
    n = Normalizer()
    fast = n.analyze(text)
    marked = n.analyze(text + " #метка")
    assert marked.raw[: len(fast.raw)] == fast.raw
    assert marked.spans[: len(fast.raw)] == fast.spans


# pieces of plain text: letters, digits, stars, punctuation, runs of spaces, a long word
_SPACED = st.lists(
    st.sampled_from(
        [*"абвгдеёжзийклмнопрстуфхцчшщъыьэюяABCxyz019_ ,.!?*-\n\t\xa0😀", "  ", "   ", "а" * 70]
    ),
    max_size=60,
).map("".join)


@given(_SPACED)
def test_plain_text_split_at_spaces_has_the_words_of_the_whole_text(text: str) -> None:
    """The fast tokeniser reads each space-separated chunk on its own (and remembers it): the
    words and spans are those of the word pattern over the whole text, read once or twice."""
    n = Normalizer()
    expected = [(m.group(), m.span()) for m in _WORD_RE.finditer(text)]
    for _ in range(2):
        a = n.analyze(text + "")  # a new string: analysed again, chunks remembered
        assert list(zip(a.raw, [a.span(i) for i in range(len(a.raw))], strict=True)) == expected
        assert list(zip(a.raw, a.spans, strict=True)) == expected


def test_hostile_runs_of_digits_or_underscores_are_not_words() -> None:
    # With a backtracking word pattern these took quadratic time (minutes for 100 kB).
    n = Normalizer()
    assert n.analyze("1" * 100_000).raw == ()
    assert n.analyze("_" * 100_000).raw == ()
    assert n.analyze("1" * 100_000 + "а").raw == ("1" * 100_000 + "а",)
