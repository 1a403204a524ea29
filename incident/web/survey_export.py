"""A campaign's responses and results as CSV (for a Russian spreadsheet: UTF-8 with a BOM,
``;``, decimal commas) and XLSX (a sheet of responses, one of results). Every text cell goes
through ``incident.spreadsheet``: what citizens typed can neither break the file nor run as a
formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from incident.spreadsheet import csv_text, readable, runs_as_formula
from incident.surveys.definition import Definition, Question
from incident.surveys.results import Response, Results


def columns(definition: Definition) -> list[tuple[str, Question, str | None]]:
    """(header, question, grid row id) for each column after the number and the time."""
    found: list[tuple[str, Question, str | None]] = []
    for q in definition.questions:
        if q.kind == "grid":
            for row in q.rows:
                found.append((f"{q.number}. {row.text}", q, row.id))
        else:
            found.append((f"{q.number}. {q.text}", q, None))
    return found


def answer_text(q: Question, value: Any, row: str | None) -> str:
    """An answer as the form's words: the option's text, several joined with «; », or what
    the respondent wrote."""
    if value is None:
        return ""
    if row is not None:
        value = value.get(row) if isinstance(value, dict) else None
        if value is None:
            return ""
    if isinstance(value, str):
        return value
    numbers = value if isinstance(value, list) else [value]
    texts = [o.text for n in numbers if isinstance(n, int) and (o := q.option(n)) is not None]
    return "; ".join(texts)


def response_rows(
    definition: Definition, found: Sequence[Response], zone: tzinfo
) -> tuple[list[str], list[list[Any]]]:
    cols = columns(definition)
    header = ["№ ответа", "Отправлено", *(title for title, _, _ in cols)]
    rows = [
        [
            r.id,
            r.submitted_at.astimezone(zone).replace(tzinfo=None),
            *(answer_text(q, r.answers.get(q.id), row) for _, q, row in cols),
        ]
        for r in found
    ]
    return header, rows


def result_rows(results: Results) -> list[list[Any]]:
    """Each question's distribution: question, row, option, count, share."""
    out: list[list[Any]] = [["Вопрос", "Строка", "Ответ", "Число ответов", "Доля"]]
    for qr in results.questions:
        q = qr.question
        title = f"{q.number}. {q.text}"
        if q.kind == "open":
            out.append([title, "", "открытых ответов", qr.answered, None])
        for o in qr.options:
            out.append([title, "", o.text, o.count, o.share])
        for row in qr.rows:
            for o in row.options:
                out.append([title, row.text, o.text, o.count, o.share])
    for iv in results.indices:
        out.append([iv.index.title, "", "индекс", iv.answered, iv.value])
    return out


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".replace(".", ",")
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "strftime"):
        return f"{value:%d.%m.%Y %H:%M}"
    return csv_text(str(value))


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([csv_text(h) for h in header])
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def _cell(ws: WriteOnlyWorksheet, value: Any, *, bold: bool = False, share: bool = False) -> Any:
    if isinstance(value, str):
        value = readable(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
        if runs_as_formula(value):
            cell.quotePrefix = True
    elif hasattr(value, "strftime"):
        cell.number_format = "DD.MM.YYYY HH:MM"
    elif share and isinstance(value, float):
        cell.number_format = "0.0%"
    if bold:
        cell.font = Font(bold=True)
    return cell


def to_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], results: Results) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Ответы")
    ws.freeze_panes = "A2"
    ws.append([_cell(ws, h, bold=True) for h in header])
    for row in rows:
        ws.append([_cell(ws, v) for v in row])
    summary = wb.create_sheet("Итоги")
    summary.freeze_panes = "A2"
    table = result_rows(results)
    summary.append([_cell(summary, h, bold=True) for h in table[0]])
    for row in table[1:]:
        summary.append([_cell(summary, v, share=n == 4) for n, v in enumerate(row)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
