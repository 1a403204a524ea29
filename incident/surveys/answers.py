"""A filled-in form, checked against its definition: answers to store, or Russian errors.

The form's fields: ``q1=2`` (one answer: the option's number), ``q2=1&q2=4`` (any number),
``q6=text`` (open, at most ``MAX_OPEN_ANSWER`` characters), ``q8.site=1`` (one answer per
row of a grid). Anything else in the form is ignored; a value no option has is an error (a
forged form), never stored. What a person typed comes back with the errors, so nothing is
lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from incident.surveys.definition import MAX_OPEN_ANSWER, Definition, Question

Answers = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Checked:
    answers: Answers
    errors: Mapping[str, str] = field(default_factory=dict)  # question id -> what is wrong

    @property
    def ok(self) -> bool:
        return not self.errors


def _number(value: str, q: Question) -> int | None:
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 3:
        return None
    n = int(value)
    return n if q.option(n) else None


def check_form(definition: Definition, fields: Iterable[tuple[str, str]]) -> Checked:
    """Answers from the form's ``(name, value)`` pairs, and an error per question that has one."""
    values: dict[str, list[str]] = {}
    for name, value in fields:
        if len(values) < 500:
            values.setdefault(name, []).append(value)
    answers: Answers = {}
    errors: dict[str, str] = {}
    forged = "Выберите ответ из предложенных."
    for q in definition.questions:
        if q.kind == "open":
            text = "\n".join(v.strip() for v in values.get(q.id, []) if v.strip())
            text = text.replace("\r\n", "\n")
            if len(text) > MAX_OPEN_ANSWER:
                errors[q.id] = f"Ответ длиннее {MAX_OPEN_ANSWER} знаков: сократите его, пожалуйста."
                answers[q.id] = text
            elif text:
                answers[q.id] = text
        elif q.kind == "one":
            chosen = [v for v in values.get(q.id, []) if v.strip()]
            if chosen:
                n = _number(chosen[0], q)
                if n is None or len(chosen) > 1:
                    errors[q.id] = forged
                else:
                    answers[q.id] = n
        elif q.kind == "many":
            numbers = []
            for v in values.get(q.id, [])[: len(q.options) + 1]:
                n = _number(v, q)
                if n is None:
                    errors[q.id] = forged
                elif n not in numbers:
                    numbers.append(n)
            if numbers and q.id not in errors:
                answers[q.id] = sorted(numbers)
        else:  # grid
            rows: dict[str, int] = {}
            for row in q.rows:
                chosen = [v for v in values.get(f"{q.id}.{row.id}", []) if v.strip()]
                if chosen:
                    n = _number(chosen[0], q)
                    if n is None or len(chosen) > 1:
                        errors[q.id] = forged
                    else:
                        rows[row.id] = n
            if rows and q.id not in errors:
                answers[q.id] = rows
        if q.required and q.id not in answers and q.id not in errors:
            errors[q.id] = "Ответьте, пожалуйста, на этот вопрос."
    if not answers and not errors:
        errors[""] = "Ответьте хотя бы на один вопрос."
    return Checked(answers, errors)


def form_values(definition: Definition, answers: Answers) -> dict[str, Any]:
    """What the form shows again after an error: field name -> chosen numbers or the text."""
    shown: dict[str, Any] = {}
    for q in definition.questions:
        value = answers.get(q.id)
        if value is None:
            continue
        if q.kind == "grid" and isinstance(value, dict):
            for row, n in value.items():
                shown[f"{q.id}.{row}"] = [n]
        elif isinstance(value, list):
            shown[q.id] = value
        elif isinstance(value, int):
            shown[q.id] = [value]
        else:
            shown[q.id] = value
    return shown
