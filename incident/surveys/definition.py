"""The survey definition: a data file (``surveys/*.toml``) read once, strictly.

A definition is the form a campaign shows: a title, the body's names (settings the texts name
as ``{short_genitive}`` and so on, so another body or next year's form is a data change), the
questions with their answer options, and the overall indices the results page computes. Every
problem names the file and the line it is on. A campaign stores the definition it started with
(``to_json``/``from_json``), so its results stay readable after the file changes.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("one", "many", "open", "grid")
BODY_NAMES = ("full_genitive", "full_instrumental", "short", "short_genitive")
MAX_OPEN_ANSWER = 2000  # characters one open answer may hold
# the committee's form, shipped beside the package (``[survey] definition`` names another)
SHIPPED_DEFINITION = Path(__file__).resolve().parent.parent.parent / "surveys" / "satisfaction.toml"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TEXT_MAX = 1000


class DefinitionError(Exception):
    """The definition file is invalid; each line of the message is 'file:line: what'."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Option:
    number: int  # 1-based position: what a response stores
    text: str
    score: int | None = None


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    number: int
    kind: str
    text: str
    note: str = ""
    required: bool = False
    options: tuple[Option, ...] = ()
    rows: tuple[Row, ...] = ()
    rows_title: str = ""
    scale_title: str = ""

    @property
    def full_text(self) -> str:
        """The question as the form words it: its text and, in brackets, the note."""
        return f"{self.text} ({self.note})" if self.note else self.text

    def option(self, number: int) -> Option | None:
        return self.options[number - 1] if 1 <= number <= len(self.options) else None

    @property
    def scored(self) -> bool:
        return any(o.score is not None for o in self.options)


@dataclass(frozen=True, slots=True)
class Index:
    """An overall figure: the share of chosen options, or the mean score, of one question."""

    title: str
    question: str
    share_of: tuple[int, ...] = ()
    mean: bool = False


@dataclass(frozen=True, slots=True)
class Definition:
    id: str
    title: str
    intro: str
    thanks: str
    body: Mapping[str, str]
    questions: tuple[Question, ...]
    indices: tuple[Index, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def to_json(self) -> dict[str, Any]:
        """The parsed file as plain JSON (what a campaign keeps)."""
        return dict(self.raw)


_TOP = {"survey", "body", "question", "index"}
_SURVEY = {"id", "title", "intro", "thanks"}
_QUESTION = {
    "id",
    "kind",
    "text",
    "note",
    "required",
    "options",
    "rows",
    "rows_title",
    "scale_title",
}
_INDEX = {"title", "question", "share_of", "mean"}


def _header_lines(source: str, header: str) -> list[int]:
    """The 1-based line of each ``[[header]]`` table, in order."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
    return [n for n, line in enumerate(source.splitlines(), start=1) if pattern.match(line)]


def _table_line(source: str, header: str) -> int:
    pattern = re.compile(rf"^\s*\[\s*{re.escape(header)}\s*\]")
    for n, line in enumerate(source.splitlines(), start=1):
        if pattern.match(line):
            return n
    return 1


class _Reader:
    def __init__(self, name: str, body: Mapping[str, str]) -> None:
        self.name = name
        self.body = body
        self.problems: list[str] = []

    def bad(self, line: int, what: str) -> None:
        self.problems.append(f"{self.name}:{line}: {what}")

    def text(self, table: Mapping[str, Any], key: str, line: int, *, required: bool = True) -> str:
        value = table.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.bad(line, f"{key}: must be a non-empty text")
            return ""
        if len(value) > _TEXT_MAX:
            self.bad(line, f"{key}: longer than {_TEXT_MAX} characters")
        return self.fill(value.strip(), key, line)

    def fill(self, text: str, key: str, line: int) -> str:
        """``text`` with the body's names put in; an unknown name is a problem."""
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(text) if n is not None]
        except ValueError as exc:
            self.bad(line, f"{key}: broken braces: {exc}")
            return text
        unknown = sorted({n for n in names if n not in self.body})
        if unknown:
            known = ", ".join("{" + n + "}" for n in BODY_NAMES)
            self.bad(line, f"{key}: unknown name {{{unknown[0]}}}; known: {known}")
            return text
        return text.format_map(self.body)


def _options(r: _Reader, raw: Any, line: int) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw or len(raw) > 20:
        r.bad(line, "options: must be a list of 1 to 20 {{ text = ... }} tables")
        return ()
    found: list[Option] = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            r.bad(line, f'options[{n}]: must be a table like {{ text = "Да" }}')
            continue
        for key in sorted(set(item) - {"text", "score"}):
            r.bad(line, f"options[{n}].{key}: unknown key (known: text, score)")
        score = item.get("score")
        if score is not None and (isinstance(score, bool) or score not in range(1, 6)):
            r.bad(line, f"options[{n}].score: must be a whole number from 1 to 5")
            score = None
        found.append(Option(n, r.text(item, "text", line), score))
    texts = [o.text for o in found]
    if len(set(texts)) != len(texts):
        r.bad(line, "options: two options have the same text")
    return tuple(found)


def _question(r: _Reader, raw: Any, number: int, line: int, seen: set[str]) -> Question | None:
    if not isinstance(raw, dict):
        r.bad(line, "question: must be a table")
        return None
    for key in sorted(set(raw) - _QUESTION):
        r.bad(line, f"{key}: unknown key (known: {', '.join(sorted(_QUESTION))})")
    qid = raw.get("id")
    if not isinstance(qid, str) or not _ID.match(qid):
        r.bad(line, "id: must be a short lower-case id like 'q1'")
        return None
    if qid in seen:
        r.bad(line, f"id: {qid!r} is used twice")
    seen.add(qid)
    kind = raw.get("kind")
    if kind not in KINDS:
        r.bad(line, f"kind: must be one of {', '.join(KINDS)}")
        return None
    required = raw.get("required", False)
    if not isinstance(required, bool):
        r.bad(line, "required: must be true or false")
        required = False
    options: tuple[Option, ...] = ()
    rows: tuple[Row, ...] = ()
    if kind == "open":
        for key in ("options", "rows", "scale_title", "rows_title"):
            if key in raw:
                r.bad(line, f"{key}: an open question has none")
    else:
        options = _options(r, raw.get("options"), line)
    if kind == "grid":
        raw_rows = raw.get("rows")
        if not isinstance(raw_rows, list) or not raw_rows or len(raw_rows) > 20:
            r.bad(line, "rows: a grid needs a list of 1 to 20 {{ id = ..., text = ... }} tables")
        else:
            ids: set[str] = set()
            built = []
            for n, item in enumerate(raw_rows, start=1):
                if not isinstance(item, dict) or set(item) != {"id", "text"}:
                    r.bad(line, f"rows[{n}]: must be a table with exactly id and text")
                    continue
                rid = item["id"]
                if not isinstance(rid, str) or not _ID.match(rid) or rid in ids:
                    r.bad(line, f"rows[{n}].id: must be a unique lower-case id like 'site'")
                    continue
                ids.add(rid)
                built.append(Row(rid, r.text(item, "text", line)))
            rows = tuple(built)
    elif kind != "open":
        for key in ("rows", "rows_title", "scale_title"):
            if key in raw:
                r.bad(line, f"{key}: only a grid question has it")
    return Question(
        id=qid,
        number=number,
        kind=kind,
        text=r.text(raw, "text", line),
        note=r.text(raw, "note", line, required=False),
        required=required,
        options=options,
        rows=rows,
        rows_title=r.text(raw, "rows_title", line, required=False),
        scale_title=r.text(raw, "scale_title", line, required=False),
    )


def _index(r: _Reader, raw: Any, line: int, questions: Mapping[str, Question]) -> Index | None:
    if not isinstance(raw, dict):
        r.bad(line, "index: must be a table")
        return None
    for key in sorted(set(raw) - _INDEX):
        r.bad(line, f"{key}: unknown key (known: {', '.join(sorted(_INDEX))})")
    title = r.text(raw, "title", line)
    q = questions.get(str(raw.get("question")))
    if q is None or q.kind != "one":
        r.bad(line, "question: must be the id of a one-answer question")
        return None
    share_of = raw.get("share_of", [])
    mean = raw.get("mean", False)
    if not isinstance(mean, bool):
        r.bad(line, "mean: must be true or false")
        return None
    if mean == bool(share_of):
        r.bad(line, "an index is either mean = true or share_of = [option numbers]")
        return None
    if mean and not q.scored:
        r.bad(line, f"mean: question {q.id} has no scored options")
        return None
    if not isinstance(share_of, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and q.option(n) for n in share_of
    ):
        r.bad(line, f"share_of: must list option numbers of question {q.id}")
        return None
    return Index(title, q.id, tuple(share_of), mean)


def parse_definition(data: Mapping[str, Any], name: str, source: str = "") -> Definition:
    """Validate parsed TOML ``data`` (``source``: the file's text, for line numbers)."""
    problems: list[str] = []
    for key in sorted(set(data) - _TOP):
        problems.append(f"{name}:1: {key}: unknown table (known: {', '.join(sorted(_TOP))})")
    body_raw = data.get("body")
    body_line = _table_line(source, "body")
    body: dict[str, str] = {}
    if not isinstance(body_raw, dict):
        problems.append(f"{name}:1: [body]: missing: the body's names ({', '.join(BODY_NAMES)})")
    else:
        for key in sorted(set(body_raw) - set(BODY_NAMES)):
            problems.append(f"{name}:{body_line}: body.{key}: unknown name")
        for key in BODY_NAMES:
            value = body_raw.get(key)
            if not isinstance(value, str) or not value.strip() or "{" in value:
                problems.append(f"{name}:{body_line}: body.{key}: must be a non-empty text")
            else:
                body[key] = value.strip()
    for key in BODY_NAMES:
        body.setdefault(key, "")
    r = _Reader(name, body)
    r.problems = problems
    survey = data.get("survey")
    survey_line = _table_line(source, "survey")
    if not isinstance(survey, dict):
        r.bad(1, "[survey]: missing: id, title, intro, thanks")
        survey = {}
    for key in sorted(set(survey) - _SURVEY):
        r.bad(survey_line, f"survey.{key}: unknown key")
    sid = survey.get("id")
    if not isinstance(sid, str) or not _ID.match(sid):
        r.bad(survey_line, "survey.id: must be a short lower-case id like 'satisfaction'")
        sid = ""
    raw_questions = data.get("question")
    lines = _header_lines(source, "question")
    questions: list[Question] = []
    if not isinstance(raw_questions, list) or not raw_questions:
        r.bad(1, "[[question]]: the survey has no questions")
        raw_questions = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_questions, start=1):
        line = lines[n - 1] if n <= len(lines) else 1
        q = _question(r, raw, n, line, seen)
        if q is not None:
            questions.append(q)
    by_id = {q.id: q for q in questions}
    raw_indices = data.get("index", [])
    index_lines = _header_lines(source, "index")
    indices: list[Index] = []
    for n, raw in enumerate(raw_indices if isinstance(raw_indices, list) else [], start=1):
        index = _index(r, raw, index_lines[n - 1] if n <= len(index_lines) else 1, by_id)
        if index is not None:
            indices.append(index)
    definition = Definition(
        id=sid,
        title=r.text(survey, "title", survey_line),
        intro=r.text(survey, "intro", survey_line, required=False),
        thanks=r.text(survey, "thanks", survey_line, required=False) or "Спасибо!",
        body=body,
        questions=tuple(questions),
        indices=tuple(indices),
        raw=dict(data),
    )
    if r.problems:
        raise DefinitionError(r.problems)
    return definition


def load_definition(path: Path) -> Definition:
    """Read and validate a definition file; ``DefinitionError`` names each problem's line."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([f"{path}:1: cannot read: {exc}"]) from None
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_definition(data, str(path), source)


def from_json(data: Mapping[str, Any], name: str = "campaign") -> Definition:
    """A definition a campaign stored (``Definition.to_json``)."""
    return parse_definition(data, name)
