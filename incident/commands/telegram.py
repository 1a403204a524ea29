"""``incident telegram login``: the one-time interactive login of the Telegram account.

The account (a person's, administering the channel and its discussion group) logs in once with
its phone number, the code Telegram sends and, if set, its two-step password. Telethon keeps the
result in a session file: whoever holds the file is logged in as that account, so it is written
with mode 0600 in a 0700 folder, and never inside a source checkout (where it could be
committed). The checks are plain functions; ``interactive_login`` is the thin part that talks to
Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

import incident
from incident.commands.common import EXIT_FAILURE, EXIT_OK, load
from incident.config import ConfigError
from incident.sources.telegram.config import TelegramSourceConfig

SESSION_MODE = 0o600
FOLDER_MODE = 0o700
CHECKOUT = Path(incident.__file__).resolve().parent.parent


class SessionPathError(Exception):
    """The session file may not be written there."""


def check_session_path(path: Path, checkout: Path = CHECKOUT) -> Path:
    """The absolute session path, refused inside this checkout or any git working tree."""
    resolved = path.expanduser().resolve()
    if resolved.suffix != ".session":
        raise SessionPathError(f"{resolved}: a Telegram session file ends in .session")
    if resolved.is_relative_to(checkout.resolve()):
        raise SessionPathError(
            f"{resolved} is inside the checkout {checkout}: a session file is a logged-in "
            "account; keep it in the state directory (see README 'Telegram')"
        )
    for folder in resolved.parents:
        if (folder / ".git").exists():
            raise SessionPathError(
                f"{resolved} is inside the git working tree {folder}: keep the session file "
                "outside any repository"
            )
    return resolved


def prepare_session_folder(path: Path) -> None:
    """Create the session's folder (0700) if needed; refuse one others can read or write."""
    folder = path.parent
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, FOLDER_MODE)


def protect_session(path: Path) -> None:
    """The session file (and Telethon's journal beside it, if any) readable by the owner only."""
    for candidate in (path, path.with_name(path.name + "-journal")):
        if candidate.exists():
            os.chmod(candidate, SESSION_MODE)


def interactive_login(path: Path, api_id: int, api_hash: str) -> str:
    """Log in over the network, asking for the phone, the code and the 2FA password; the
    account's name. Telethon appends nothing: ``path`` already ends in ``.session``."""
    from telethon import TelegramClient

    async def run() -> str:
        client = TelegramClient(str(path), api_id, api_hash)
        try:
            await client.start(
                phone=lambda: input("Номер телефона (+7...): "),
                code_callback=lambda: input("Код из Telegram: "),
                password=lambda: getpass.getpass("Пароль двухэтапной проверки: "),
            )
            me = await client.get_me()
            return " ".join(p for p in (me.first_name, me.last_name, f"(id {me.id})") if p)
        finally:
            await client.disconnect()

    return asyncio.run(run())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``incident telegram login``."""
    p = sub.add_parser("telegram", help="Telegram: log the account in once")
    tsub = p.add_subparsers(dest="telegram_command", required=True, metavar="COMMAND")
    login = tsub.add_parser("login", help="log in (phone, code, password) and save the session")
    login.add_argument(
        "--source", metavar="NAME", help="the Telegram source (if there are several)"
    )
    login.set_defaults(handler=cmd_login, needs_secrets=True)


def telegram_source(sources: tuple[object, ...], name: str | None) -> TelegramSourceConfig:
    """The one Telegram source, or the one named ``name``."""
    found = [s for s in sources if isinstance(s, TelegramSourceConfig)]
    if name is not None:
        found = [s for s in found if s.name == name]
    if len(found) != 1:
        names = ", ".join(s.name for s in found) or "none"
        raise ConfigError(
            f"name the Telegram source with --source (Telegram sources: {names})"
            if found
            else f"no Telegram source{f' named {name!r}' if name else ''} in the config"
        )
    return found[0]


def cmd_login(args: argparse.Namespace) -> int:
    config = load(args)
    cfg = telegram_source(config.sources, args.source)
    try:
        path = check_session_path(cfg.session_path)
    except SessionPathError as exc:
        print(f"incident telegram login: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    prepare_session_folder(path)
    previous = os.umask(0o077)
    try:
        who = interactive_login(path, int(cfg.api_id.value), cfg.api_hash.value)
    finally:
        os.umask(previous)
        protect_session(path)
    print(f"logged in as {who}; session saved in {path} (mode 0600)")
    return EXIT_OK
