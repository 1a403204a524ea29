"""``incident user add/passwd/disable/enable/name/list``: staff accounts from the command line."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from incident import users
from incident.commands.common import database, load
from incident.daemon import utc_now

PASSWORD_ENV = "INCIDENT_USER_PASSWORD"  # noqa: S105 - a variable name; for scripts: read instead of prompting


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="staff accounts: add, passwd, disable, enable, name, list")
    usub = p.add_subparsers(dest="user_command", required=True, metavar="COMMAND")

    add = usub.add_parser("add", help="create an account (asks for the password)")
    add.add_argument("username")
    add.add_argument(
        "--role", choices=[r.value for r in users.Role], default=users.Role.STAFF.value
    )
    add.add_argument("--name", dest="display_name", help="the name shown in the app")
    add.set_defaults(handler=cmd_add)

    pw = usub.add_parser("passwd", help="set a new password (ends the user's sessions)")
    pw.add_argument("username")
    pw.set_defaults(handler=cmd_passwd)

    dis = usub.add_parser("disable", help="block logins and end the user's sessions")
    dis.add_argument("username")
    dis.set_defaults(handler=cmd_disable, disabled=True)

    en = usub.add_parser("enable", help="allow a disabled user to log in again")
    en.add_argument("username")
    en.set_defaults(handler=cmd_disable, disabled=False)

    nm = usub.add_parser("name", help="set the name the app shows for an account")
    nm.add_argument("username")
    nm.add_argument("display_name", metavar="NAME", help='e.g. "Анна Петрова"')
    nm.set_defaults(handler=cmd_name)

    ls = usub.add_parser("list", help="every account with its role and state")
    ls.set_defaults(handler=cmd_list)


def _password() -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    first = getpass.getpass("Пароль: ")
    if getpass.getpass("Ещё раз: ") != first:
        raise users.UserError("пароли не совпадают")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine:
        try:
            password = _password()
            with engine.begin() as conn:
                user = users.add_user(
                    conn,
                    args.username,
                    password,
                    users.Role(args.role),
                    utc_now(),
                    display_name=args.display_name,
                )
        except users.UserError as exc:
            print(f"incident user add: {exc}", file=sys.stderr)
            return 1
    print(f"added {user.username} ({user.role.value})")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine:
        try:
            password = _password()
            with engine.begin() as conn:
                users.set_password(conn, args.username, password, utc_now())
        except users.UserError as exc:
            print(f"incident user passwd: {exc}", file=sys.stderr)
            return 1
    print(f"password changed for {args.username}; their open sessions have ended")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine:
        try:
            with engine.begin() as conn:
                users.set_disabled(conn, args.username, args.disabled, utc_now())
        except users.UserError as exc:
            print(f"incident user: {exc}", file=sys.stderr)
            return 1
    print(f"{args.username} {'disabled' if args.disabled else 'enabled'}")
    return 0


def cmd_name(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine:
        try:
            with engine.begin() as conn:
                name = users.set_display_name(conn, args.username, args.display_name, utc_now())
        except users.UserError as exc:
            print(f"incident user name: {exc}", file=sys.stderr)
            return 1
    print(f"{args.username} is shown as {name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    config = load(args)
    with database(config) as engine, engine.connect() as conn:
        people = users.list_users(conn)
    for u in people:
        state = "disabled" if u.disabled else "active"
        print(f"{u.username}\t{u.role.value}\t{state}\t{u.display_name}")
    return 0
