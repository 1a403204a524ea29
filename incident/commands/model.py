"""``incident model train | list | rollback | export``: the learned model's versions.

``train`` fits a new version on the rules and every staff topic correction and makes it the
active one (``--if-changed``: only when the rules or the corrections changed since the active
one; the worker's schedule runs it so). ``list`` shows every version; ``rollback [VERSION]``
makes an earlier version active (the one before the active one by default; any version,
newer ones too, so a rollback is undone the same way; ``--off``: the rules alone). ``export``
writes the active model's plain data for ``incident classify --model``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from incident import files, training, wiring
from incident.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, database, load, print_table
from incident.daemon import utc_now
from incident.learned import ModelError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the parser."""
    p = sub.add_parser("model", help="обучаемая модель тем: обучение, версии, откат")
    commands = p.add_subparsers(dest="model_command", metavar="КОМАНДА", required=True)
    t = commands.add_parser(
        "train",
        help="обучить новую версию на правилах и исправлениях тем",
        description="Обучает модель на примерах и фразах правил и на исправлениях тем, "
        "сделанных сотрудниками, и делает новую версию действующей.",
    )
    t.add_argument(
        "--if-changed",
        action="store_true",
        help="только если с прошлого обучения изменились правила или появились исправления",
    )
    t.set_defaults(handler=cmd_train)
    ls = commands.add_parser("list", help="все версии модели")
    ls.set_defaults(handler=cmd_list)
    r = commands.add_parser(
        "rollback",
        help="сделать действующей другую версию (по умолчанию предыдущую)",
        description="Делает действующей указанную версию модели (без номера: предыдущую). "
        "Версии не удаляются: откат можно отменить той же командой.",
    )
    r.add_argument("version", nargs="?", type=int, help="номер версии")
    r.add_argument("--off", action="store_true", help="отключить модель: темы только по правилам")
    r.set_defaults(handler=cmd_rollback)
    e = commands.add_parser("export", help="сохранить действующую модель в файл JSON")
    e.add_argument("--out", type=Path, required=True, metavar="ФАЙЛ")
    e.set_defaults(handler=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    config = load(args)
    ruleset = wiring.load_rules(config)
    with database(config) as engine:
        try:
            done = training.train_once(engine, ruleset, utc_now(), if_changed=args.if_changed)
        except ModelError as exc:
            print(f"Модель не обучена: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    if done is None:
        print("Модель не обучалась: с прошлого обучения нет новых исправлений и правила те же.")
        return EXIT_OK
    m = done.model
    print(
        f"Модель версии {m.version} обучена за {done.seconds:.1f} с: примеров {m.examples}, "
        f"из них исправлений сотрудников {m.corrections}, признаков {len(m.weights)}; "
        f"правила {m.ruleset_version}. Она действует с этой минуты."
    )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine, engine.connect() as conn:
        rows = training.list_models(conn)
    if not rows:
        print("Моделей ещё нет: темы определяют только правила (incident model train).")
        return EXIT_OK
    table = [("версия", "обучена (UTC)", "правила", "примеров", "исправлений", "признаков", "")]
    table.extend(
        (
            str(r.version),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.ruleset_version,
            str(r.examples),
            str(r.corrections),
            str(r.features),
            "действует" if r.active else "",
        )
        for r in rows
    )
    print_table(table, sys.stdout)
    if not any(r.active for r in rows):
        print("Модель отключена: темы определяют только правила.")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    if args.off and args.version is not None:
        print("Укажите версию или --off, но не то и другое.", file=sys.stderr)
        return EXIT_USAGE
    config = load(args)
    with database(config) as engine, engine.begin() as conn:
        if args.off:
            training.activate(conn, None)
            print("Модель отключена: темы определяют только правила.")
            return EXIT_OK
        version = args.version
        if version is None:
            rows = training.list_models(conn)
            current = next((r.version for r in rows if r.active), None)
            earlier = [r.version for r in rows if current is None or r.version < current]
            if not earlier:
                print("Более ранней версии нет.", file=sys.stderr)
                return EXIT_FAILURE
            version = earlier[0]
        if not training.activate(conn, version):
            print(f"Версии {version} нет (incident model list).", file=sys.stderr)
            return EXIT_FAILURE
    print(f"Действует модель версии {version}; работники перейдут на неё в течение минуты.")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine, engine.connect() as conn:
        model = training.active_model(conn)
    if model is None:
        print("Действующей модели нет.", file=sys.stderr)
        return EXIT_FAILURE
    try:
        # its features are pieces of citizens' words: the owner's only, like the database
        files.private_file(args.out)
        args.out.write_text(json.dumps(model.to_data(), ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        print(f"Не удалось записать {args.out}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"Модель версии {model.version} сохранена в {args.out}.")
    return EXIT_OK
