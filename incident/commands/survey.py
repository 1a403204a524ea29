"""``incident survey create/list/close/check``: the satisfaction survey's campaigns."""

from __future__ import annotations

import argparse
import sys

from incident import surveys
from incident.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, database, load
from incident.daemon import utc_now


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("survey", help="satisfaction survey campaigns: create, list, close, check")
    ssub = p.add_subparsers(dest="survey_command", required=True, metavar="COMMAND")

    create = ssub.add_parser(
        "create", help="start a campaign; prints its public link on the last line"
    )
    create.add_argument("--title", required=True, help="the campaign's name, e.g. 'Опрос 2026'")
    create.set_defaults(handler=cmd_create)

    ls = ssub.add_parser("list", help="every campaign with its link, state and responses")
    ls.set_defaults(handler=cmd_list)

    close = ssub.add_parser("close", help="stop taking responses")
    close.add_argument("slug", help="the campaign's code: the last part of its link")
    close.set_defaults(handler=cmd_close)

    check = ssub.add_parser("check", help="validate the survey definition file")
    check.set_defaults(handler=cmd_check)


def _definition(args: argparse.Namespace) -> surveys.Definition | None:
    config = load(args)
    try:
        return surveys.load_definition(config.survey.definition)
    except surveys.DefinitionError as exc:
        for problem in exc.problems:
            print(f"incident survey: {problem}", file=sys.stderr)
        return None


def cmd_create(args: argparse.Namespace) -> int:
    config = load(args)
    definition = _definition(args)
    if definition is None:
        return EXIT_USAGE
    with database(config) as engine:
        try:
            with engine.begin() as conn:
                campaign = surveys.create_campaign(conn, args.title, definition, utc_now())
        except surveys.SurveyError as exc:
            print(f"incident survey create: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    print(f"campaign {campaign.id} started: {campaign.title}")
    print(f"survey {definition.id}: {len(definition.questions)} questions")
    if config.public_url is None:
        print(
            "no [survey] public_url or [notify] base_url: the link below is a path on the web app"
        )
    print(surveys.public_url(campaign.path, config.public_url))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine, engine.connect() as conn:
        found = surveys.campaigns(conn)
    for c in found:
        state = "open" if c.open else f"closed {c.closed_at:%Y-%m-%d}"
        url = surveys.public_url(c.path, config.public_url)
        print(f"{c.slug}\t{state}\t{c.responses} responses\t{c.title}\t{url}")
    return EXIT_OK


def cmd_close(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine, engine.begin() as conn:
        closed = surveys.close_campaign(conn, args.slug, utc_now())
    if not closed:
        print(f"incident survey close: no open campaign {args.slug!r}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"campaign {args.slug} closed")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    definition = _definition(args)
    if definition is None:
        return EXIT_USAGE
    print(f"{definition.id}: {len(definition.questions)} questions, fine")
    return EXIT_OK
