"""``incident classify``, ``incident suggest`` and ``incident rules check``.

``classify "текст"`` prints the verdict and why (``--json`` for the JSON form);
``classify --jsonl IN.jsonl`` (``-`` for stdin) reads ``{"text": ...}`` lines and writes one
JSON verdict per line to stdout, in the same order. Both use the rules' own model
(``incident.training.rules_model``: trained on the rules' examples and phrases, remembered in
``~/.cache/incident``) for the comments the rules leave unclassified; ``--model FILE`` uses an
exported model instead (one that learned staff corrections), ``--no-model`` the rules alone.
``suggest "текст"`` shows the ranked reply drafts. ``rules check`` validates every rule and
reply file, runs the rule examples and checks the replies' wording. A rules author edits a
phrase and runs ``incident classify "пример"``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from incident import training, wiring
from incident.classify import Verdict, classify
from incident.config import data_folder
from incident.learned import LearnedModel, classify_json, classify_with_model
from incident.models import UNCLASSIFIED, Platform
from incident.replies import (
    Catalog,
    RepliesError,
    ReplyContext,
    load_replies,
    plain_language_problems,
    suggest,
)
from incident.rules import RulesError, RuleSet, load_ruleset

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_BATCH = 64  # verdicts written to stdout at once


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    classify_parser = subparsers.add_parser(
        "classify",
        help="тема комментария и объяснение",
        description="Определяет тему комментария и показывает, какие фразы правил сработали.",
    )
    _add_rules_option(classify_parser)
    classify_parser.add_argument("text", nargs="?", help="текст комментария")
    classify_parser.add_argument(
        "--jsonl",
        metavar="IN.jsonl",
        help='файл со строками {"text": ...} ("-" для stdin); вердикты пишутся в stdout',
    )
    classify_parser.add_argument("--json", action="store_true", help="вывести вердикт как JSON")
    which_model = classify_parser.add_mutually_exclusive_group()
    which_model.add_argument(
        "--model",
        type=Path,
        metavar="ФАЙЛ",
        help="обученная модель (incident model export) вместо модели правил",
    )
    which_model.add_argument(
        "--no-model",
        action="store_true",
        help="только правила, без модели (по умолчанию модель правил называет тему "
        "комментариев, в которых правила не нашли ни одной фразы)",
    )
    classify_parser.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="ТЕКСТ",
        help="прежний комментарий того же автора (проверка на флуд); можно повторять",
    )
    classify_parser.set_defaults(handler=run_classify)

    suggest_parser = subparsers.add_parser(
        "suggest",
        help="черновики ответа на комментарий",
        description="Показывает черновики ответов, лучшие первыми.",
    )
    _add_rules_option(suggest_parser)
    _add_replies_option(suggest_parser)
    suggest_parser.add_argument("text", help="текст комментария")
    suggest_parser.add_argument("--platform", default=Platform.VK.value, help="vk, ok или telegram")
    suggest_parser.add_argument("--author-name", default=None, help="имя автора")
    suggest_parser.add_argument("--community", default=None, help="название сообщества")
    suggest_parser.add_argument("--private-link", default=None, help="ссылка на личные сообщения")
    suggest_parser.add_argument("--hotline", default=None, help="телефон горячей линии")
    suggest_parser.add_argument("--json", action="store_true", help="вывести черновики как JSON")
    suggest_parser.set_defaults(handler=run_suggest)

    rules_parser = subparsers.add_parser("rules", help="проверка правил и шаблонов ответов")
    rules_commands = rules_parser.add_subparsers(
        dest="rules_command", metavar="КОМАНДА", required=True
    )
    check = rules_commands.add_parser(
        "check",
        help="проверить правила, примеры и шаблоны ответов",
        description="Проверяет файлы правил и ответов, прогоняет примеры и простоту текстов.",
    )
    _add_rules_option(check)
    _add_replies_option(check)
    check.set_defaults(handler=run_rules_check)


def _add_rules_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        metavar="DIR",
        help="каталог правил (по умолчанию — из [paths] конфигурации)",
    )


def _add_replies_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replies",
        type=Path,
        default=None,
        metavar="DIR",
        help="каталог шаблонов ответов (по умолчанию — из [paths] конфигурации)",
    )


def folder(args: argparse.Namespace, kind: str) -> tuple[Path, str]:
    """The ``rules`` or ``replies`` folder to read and what chose it, in words: the option,
    else the config file's choice (``[paths]``), else the folder of that name in the current
    directory, else the one shipped with incident."""
    given: Path | None = getattr(args, kind)
    if given is not None:
        return given.absolute(), f"параметр --{kind}"
    config_path = Path(args.config)
    if config_path.is_file():
        config = wiring.load_config(config_path, require_secrets=False)
        if kind == "rules":
            return config.rules_dir, _origin(config.rules_from, kind, config_path)
        return config.replies_dir, _origin(config.replies_from, kind, config_path)
    path, chosen_by = data_folder("", kind, Path.cwd())
    return path, _origin(chosen_by, kind, None)


def _origin(chosen_by: str, kind: str, config: Path | None) -> str:
    """``data_folder``'s choice in words, for the people who write rules."""
    if chosen_by == "setting":
        return f"параметр [paths] {kind} в {config}"
    if chosen_by == "beside":
        place = f"рядом с {config}" if config else "в текущей папке"
        return f"каталог {kind} {place}, [paths] {kind} не задан"
    what = "правила" if kind == "rules" else "шаблоны ответов"
    if config is None:
        return f"{what} из поставки incident (файла конфигурации нет)"
    return f"{what} из поставки incident, в {config} не задан [paths] {kind}"


def _problems(title: str, where: tuple[Path, str], problems: Sequence[str], err: TextIO) -> None:
    path, chosen_by = where
    print(f"Ошибки в {title} ({path}; откуда: {chosen_by}):", file=err)
    for problem in problems:
        print(f"  {problem}", file=err)


def _load_rules(args: argparse.Namespace, err: TextIO) -> RuleSet | None:
    where = folder(args, "rules")
    try:
        return load_ruleset(where[0])
    except RulesError as exc:
        _problems("правилах", where, exc.problems, err)
        return None


def _load_replies(args: argparse.Namespace, ruleset: RuleSet, err: TextIO) -> Catalog | None:
    where = folder(args, "replies")
    try:
        return load_replies(where[0], ruleset)
    except RepliesError as exc:
        _problems("шаблонах ответов", where, exc.problems, err)
        return None


# --------------------------------------------------------------------------- classify


def explain(verdict: Verdict, ruleset: RuleSet, text: str) -> str:
    """The verdict in plain Russian, with every matched phrase where it was found."""
    lines: list[str] = []
    if verdict.topic == UNCLASSIFIED:
        lines.append("Тема: не определена (ни одной фразы из правил в тексте нет)")
    else:
        guess = " (не уверен: ниже порога, проверьте тему)" if verdict.uncertain else ""
        lines.append(f"Тема: {verdict.topic} — {ruleset.title(verdict.topic)}{guess}")
        lines.append(f"В компетенции комитета: {'да' if verdict.in_competence else 'нет'}")
        lines.append(f"Баллы: {verdict.score:.1f}, уверенность {verdict.confidence:.0%}")
    if verdict.runner_up:
        lines.append(f"Второе место: {verdict.runner_up} ({verdict.runner_up_score:.1f})")
    if verdict.flags:
        lines.append("Флаги: " + ", ".join(sorted(verdict.flags)))
    if verdict.redirect:
        topic = ruleset.topics[verdict.topic]
        body = next(r.body for r in topic.redirects if r.id == verdict.redirect)
        lines.append(f"Куда направить: {body} ({verdict.redirect})")
    if verdict.reasons:
        lines.append("Причины: " + "; ".join(verdict.reasons))
    if verdict.scores:
        lines.append("Все темы: " + ", ".join(f"{t} {s:.1f}" for t, s in verdict.scores))
    if verdict.matches:
        lines.append("Совпадения:")
        for m in verdict.matches:
            found = text[m.start : m.end]
            note = " (с опечаткой)" if m.fuzzy else ""
            if m.kind in ("positive", "negative"):
                sign = "+" if m.weight >= 0 else "−"
                lines.append(
                    f"  «{found}» [{m.start}:{m.end}] → {m.topic} {sign}{abs(m.weight):.1f}"
                    f" по фразе «{m.phrase}»{note}"
                )
            else:
                lines.append(f"  «{found}» [{m.start}:{m.end}] → {m.topic} ({m.kind}){note}")
    else:
        lines.append("Совпадений с правилами нет.")
    if verdict.model is not None:
        lines.extend(model_lines(verdict.model, ruleset))
    lines.append(f"Версия правил: {verdict.ruleset_version}")
    return "\n".join(lines)


_CHANGED = {
    "filled": "правила тему не определили, её назвала модель",
    "tie": "у правил две темы почти поровну, выбор сделала модель",
    "override": "модель уверенно выбрала другую тему, чем правила",
}


def model_lines(note: Mapping[str, Any], ruleset: RuleSet) -> list[str]:
    """What the learned model said, in plain Russian."""
    topic = str(note.get("topic"))
    title = ruleset.title(topic) if topic in ruleset.topics else topic
    version = note.get("version")
    # version 0: the rules' own model (trained on their examples), never stored in the database
    which = (
        "Модель правил (обучена на их примерах)" if version == 0 else f"Модель (версия {version})"
    )
    lines = [f"{which}: {title}, вероятность {float(note.get('probability') or 0):.0%}"]
    words = note.get("words") or []
    if words:
        lines.append(
            "  Слова, которые её подтолкнули: "
            + ", ".join(f"«{w.get('word')}» +{float(w.get('weight') or 0):.2f}" for w in words)
        )
    changed = note.get("changed")
    if changed in _CHANGED:
        lines.append(f"  Тему изменила модель: {_CHANGED[str(changed)]}.")
    return lines


def _json_line(data: Mapping[str, Any]) -> bytes:
    """One JSON line in UTF-8 (orjson: the verdicts' serialisation was a third of the time).
    Text orjson refuses (a lone surrogate from an escaped input line) is written escaped."""
    try:
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(data, ensure_ascii=True) + "\n").encode()


def _read_line(line: str) -> Any:
    """One input line as JSON: orjson (a fifth of the time ``json`` takes), and ``json`` for
    what orjson refuses, so that the same lines are read the same way and the same errors
    are reported (``json`` reads lone surrogates, NaN and huge numbers; orjson does not)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _jsonl_lines(source: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield number, line


def _rules_model(ruleset: RuleSet, err: TextIO) -> LearnedModel | None:
    """The rules' own model, or None (said on ``err``) for rules too small to learn from."""
    try:
        return training.rules_model(ruleset)
    except ValueError:  # ModelError: fewer than two topics with examples or phrases
        print(
            "Модель правил не обучена: ей нужны примеры или фразы хотя бы двух тем. "
            "Тема определена только по правилам.",
            file=err,
        )
        return None


def run_classify(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    if (args.text is None) == (args.jsonl is None):
        print("Укажите текст комментария или --jsonl ФАЙЛ (но не оба).", file=err)
        return EXIT_USAGE
    ruleset = _load_rules(args, err)
    if ruleset is None:
        return EXIT_FAILED
    model: LearnedModel | None = None
    if args.model is not None:
        try:
            model = LearnedModel.from_data(json.loads(args.model.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"Не удалось прочитать модель {args.model}: {exc}", file=err)
            return EXIT_FAILED
    elif not args.no_model:
        model = _rules_model(ruleset, err)

    def judge(text: str, history: tuple[str, ...] = ()) -> Verdict:
        return classify_with_model(text, ruleset, model, history=history)

    if args.text is not None:
        verdict = judge(args.text, tuple(args.history))
        if args.json:
            print(json.dumps(verdict.to_json(), ensure_ascii=False), file=out)
        else:
            print(explain(verdict, ruleset, args.text), file=out)
        return EXIT_OK
    try:
        source: IO[str] = (
            sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
        )
    except OSError as exc:
        print(f"Не удалось открыть {args.jsonl}: {exc}", file=err)
        return EXIT_FAILED
    # Everything loaded so far (the rules, the model: hundreds of thousands of objects) lives
    # as long as the process: frozen, the garbage collector no longer walks it again and
    # again while the comments' short-lived objects come and go (a twentieth of the time).
    gc.freeze()
    bad = 0
    out.flush()
    binary: IO[bytes] | None = getattr(out, "buffer", None)
    write = binary.write if binary is not None else (lambda b: out.write(b.decode()))
    pending: list[bytes] = []
    try:
        for number, line in _jsonl_lines(source):
            try:
                row = _read_line(line)
                text = row["text"] if isinstance(row, dict) else None
                if not isinstance(text, str):
                    raise ValueError('нет строкового поля "text"')
            except (ValueError, KeyError) as exc:
                bad += 1
                print(f"строка {number}: {exc}", file=err)
                pending.append(
                    _json_line({"topic": UNCLASSIFIED, "error": f"строка {number}: {exc}"})
                )
                continue
            pending.append(_json_line(classify_json(text, ruleset, model)))
            if len(pending) >= _BATCH:
                write(b"".join(pending))
                pending.clear()
    finally:
        if pending:
            write(b"".join(pending))
        if binary is not None:
            binary.flush()
        if source is not sys.stdin:
            source.close()
    return EXIT_FAILED if bad else EXIT_OK


# --------------------------------------------------------------------------- suggest


def run_suggest(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    ruleset = _load_rules(args, err)
    if ruleset is None:
        return EXIT_FAILED
    catalog = _load_replies(args, ruleset, err)
    if catalog is None:
        return EXIT_FAILED
    # the verdict classify gives: the rules, and their own model where they found nothing
    verdict = classify_with_model(args.text, ruleset, _rules_model(ruleset, err))
    context = ReplyContext(
        platform=args.platform,
        community_name=args.community,
        author_first_name=args.author_name,
        private_link=args.private_link,
        hotline=args.hotline,
    )
    drafts = suggest(verdict, catalog, context)
    if args.json:
        payload = {"verdict": verdict.to_json(), "drafts": [d.to_json() for d in drafts]}
        print(json.dumps(payload, ensure_ascii=False), file=out)
        return EXIT_OK
    title = ruleset.title(verdict.topic) if verdict.topic != UNCLASSIFIED else "не определена"
    print(f"Тема: {verdict.topic} — {title}", file=out)
    if "abusive" in verdict.flags:
        print("Комментарий с бранью или угрозами: на него можно не отвечать.", file=out)
    if verdict.uncertain:
        print("Классификатор не уверен в теме: проверьте её.", file=out)
    if verdict.conversation:
        print("Разговор пользователей: ответ не требуется.", file=out)
    if not drafts:
        print("Черновиков нет (спам и разговор пользователей не требуют ответа).", file=out)
    for number, draft in enumerate(drafts, start=1):
        why = f" — {'; '.join(draft.why)}" if draft.why else ""
        print(f"\n{number}. {draft.reply_id} ({draft.kind}){why}", file=out)
        print(draft.text, file=out)
    return EXIT_OK


# --------------------------------------------------------------------------- rules check


def run_rules_check(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    ruleset = _load_rules(args, err)
    if ruleset is None:
        return EXIT_FAILED
    failures = 0
    examples = 0
    for topic in ruleset.topics.values():
        for example in topic.examples:
            examples += 1
            verdict = classify(example, ruleset)
            if verdict.topic != topic.id:
                failures += 1
                print(
                    f"{topic.source.name}: пример должен быть {topic.id}, "
                    f"а получилось {verdict.topic}: «{example}»",
                    file=err,
                )
                scores = ", ".join(f"{t} {s:.1f}" for t, s in verdict.scores) or "нет совпадений"
                print(f"    баллы: {scores}", file=err)
    catalog = _load_replies(args, ruleset, err)
    if catalog is None:
        return EXIT_FAILED
    wording = 0
    for reply in catalog.replies.values():
        for problem in plain_language_problems(reply):
            wording += 1
            print(f"{reply.source}: {reply.id}: {problem}", file=err)
    print(
        f"Темы: {len(ruleset.topics)}, примеры: {examples} (не прошли: {failures}), "
        f"шаблоны ответов: {len(catalog.replies)} (замечаний к тексту: {wording}), "
        f"версия правил {ruleset.version}",
        file=out,
    )
    if failures or wording:
        return EXIT_FAILED
    print("Всё в порядке.", file=out)
    return EXIT_OK
