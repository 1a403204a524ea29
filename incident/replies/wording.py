"""The plain-language check of reply templates: length, long sentences and words, officialese."""

from __future__ import annotations

import re

from incident.replies.model import ReplyTemplate

# Plain-language limits for reply templates (measured on the text with sample values).
MAX_CHARS = 600
MAX_SENTENCE_WORDS = 22
LONG_WORD_LETTERS = 14
MAX_LONG_WORD_SHARE = 0.12
OFFICIALESE = (
    "в целях",
    "осуществля",
    "данный",
    "данная",
    "данное",
    "данного",
    "данной",
    "данным",
    "вышеуказанн",
    "вышеизложенн",
    "нижеследующ",
    "в рамках",
    "согласно",
    "в соответствии с",
    "уведомляем",
    "доводим до вашего сведения",
    "настоящим",
    "надлежащ",
    "является",
    "производится",
    "в адрес",
    "обращаем ваше внимание",
    "на основании",
    "в части",
    "в установленном порядке",
)
_SAMPLE = {
    "greeting": "Анна, здравствуйте!",
    "author_first_name": "Анна",
    "community_name": "Комитет по защите прав потребителей",
    "private_link": "https://vk.me/club123456",
    "hotline": "8 (800) 000-00-00",
    "gosuslugi_link": "https://www.gosuslugi.ru/",
    "redirect_body": "дорожная служба администрации города",
    "topic_title": "Связь, интернет, ТВ, почта и посылки",
}
_SENTENCE_RE = re.compile(r"[^.!?…]+")
_WORD_RE = re.compile(r"[^\W\d_]+")


def sample_render(reply: ReplyTemplate) -> str:
    return reply.text.format_map(_SAMPLE)


def plain_language_problems(reply: ReplyTemplate) -> list[str]:
    """What makes this template hard to read, each with the figure measured."""
    text = sample_render(reply)
    problems: list[str] = []
    if len(text) > MAX_CHARS:
        problems.append(f"слишком длинный текст: {len(text)} знаков (предел {MAX_CHARS})")
    prose = re.sub(r"https?://\S+", "ссылка", text)
    for sentence in _SENTENCE_RE.findall(prose):
        words = _WORD_RE.findall(sentence)
        if len(words) > MAX_SENTENCE_WORDS:
            start = " ".join(words[:5])
            problems.append(
                f"длинное предложение «{start}…»: {len(words)} слов (предел {MAX_SENTENCE_WORDS})"
            )
    words = _WORD_RE.findall(prose)
    if words:
        long_words = [w for w in words if len(w) >= LONG_WORD_LETTERS]
        share = len(long_words) / len(words)
        if share > MAX_LONG_WORD_SHARE:
            problems.append(
                f"много длинных слов: {share:.0%} слов из {LONG_WORD_LETTERS}+ букв "
                f"(предел {MAX_LONG_WORD_SHARE:.0%}): {', '.join(long_words[:3])}"
            )
    lowered = f" {prose.lower().replace('ё', 'е')} "
    for phrase in OFFICIALESE:
        if re.search(rf"(?<!\w){re.escape(phrase)}", lowered):
            problems.append(f"канцелярит: «{phrase}»")
    return problems
