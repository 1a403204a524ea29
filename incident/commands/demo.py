"""``incident demo``: the whole system against local fakes of VK, OK and Telegram, on SQLite.

Nothing is short-cut: the worker talks to the fake VK through vk_api over HTTP and to the fake
OK through its signed client over HTTP, exactly as to the real platforms, with a config file
written like an administrator would write it. Telegram is the real ``TelegramSource`` on the
in-memory ``FakeTelegram`` gateway (a config file cannot name an object, so the demo hands the
gateway to the Telegram builder). The fake OK refuses every reply through the API, as OK may
do today: those replies fail with «ответьте вручную», the manual path staff follow in OK.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shlex
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from incident import files, inbox, migrate, training, users, wiring
from incident.commands.common import how_to_run
from incident.commands.web import apply_reply_values
from incident.config import Config
from incident.daemon import Worker, utc_now
from incident.logs import configure_logging
from incident.models import DEMO_OPERATOR
from incident.sources import telegram
from incident.sources.fakes import demo_ok, demo_telegram
from incident.sources.fakes.demo_data import random_comment, seed_demo
from incident.sources.fakes.demo_source import (
    DEMO_GROUP_ID,
    admit_demo_tokens,
    demo_ok_table,
    demo_source_table,
    demo_telegram_table,
)
from incident.sources.fakes.ok_server import FakeOk
from incident.sources.fakes.vk_server import FakeVk
from incident.web import WebSettings, create_app
from incident.web.serve import BackgroundServer
from incident.words import count_en

OPERATOR = DEMO_OPERATOR
DEMO_LOGIN = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the demo's local account, printed on start
DEMO_REPLY = (
    "Здравствуйте! Спасибо, что написали. Мы разберёмся и ответим здесь же. "
    "Если понадобятся документы, напишите нам в личные сообщения сообщества."
)
# What the fake OK answers to every discussions.addDiscussionComment: PERMISSION_DENIED.
OK_REFUSES_REPLIES_WITH = 10
PLATFORM_ORDER = ("vk", "ok", "telegram")

CONFIG_TEMPLATE = """\
# Written by `incident demo`: the same format as a production config.toml.
[database]
url = "sqlite:///incident.sqlite3"

[log]
level = "{log_level}"
format = "console"

[worker]
sweep_interval_seconds = 10
outbox_interval_seconds = 1
retry_initial_seconds = 0.2
retry_maximum_seconds = 2.0

[replies]
hotline = "8 800 000-00-00 (демо)"

{paths}{sources}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run everything against local fakes of VK, OK and Telegram")
    p.add_argument("--seconds", type=float, help="stop by itself after this many seconds")
    p.add_argument("--dir", default="demo-data", help="folder for the demo's database and config")
    p.add_argument("--seed", type=int, default=7, help="random seed for the demo's comments")
    p.add_argument(
        "--comment-every", type=float, default=4.0, help="seconds between new citizen comments"
    )
    p.add_argument(
        "--reply-every",
        type=float,
        default=10.0,
        help="seconds between the demo operator's replies",
    )
    p.add_argument("--verbose", action="store_true", help="show the worker's log lines")
    p.add_argument("--host", default="127.0.0.1", help="web app address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="web app port (default 8080; 0: any)")
    p.add_argument("--no-web", action="store_true", help="do not start the web app")
    p.set_defaults(handler=cmd_demo, private_umask=True)


def _write_config(folder: Path, vk_url: str, ok_url: str, log_level: str) -> Path:
    path = folder / "config.toml"
    sources = "\n".join(
        (
            demo_source_table(folder, vk_url),
            demo_ok_table(folder, ok_url),
            demo_telegram_table(folder),
        )
    )
    path.write_text(
        CONFIG_TEMPLATE.format(log_level=log_level, paths=_paths_table(), sources=sources),
        encoding="utf-8",
    )
    return path


def _paths_table() -> str:
    """Point the demo at the rules and replies of this checkout (or of the current folder)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        rules, replies = root / "rules", root / "replies"
        if rules.is_dir() and replies.is_dir():
            return f"[paths]\nrules = {str(rules)!r}\nreplies = {str(replies)!r}\n\n"
    return ""


def cmd_demo(args: argparse.Namespace) -> int:
    folder = files.private_dirs(Path(args.dir).resolve())
    rng = random.Random(args.seed)
    stop = threading.Event()
    now = time.time()
    fake_tg = demo_telegram.new_fake()
    fake_ok = FakeOk(
        application_key=demo_ok.APPLICATION_KEY,
        application_secret_key=demo_ok.APPLICATION_SECRET_KEY,
    )
    with FakeVk() as fake, fake_ok:
        admit_demo_tokens(fake)
        seed_demo(fake, DEMO_GROUP_ID, rng, now)
        ok_posts = demo_ok.seed_ok(fake_ok, random.Random(args.seed + 1), now)
        fake_ok.refuse_replies(OK_REFUSES_REPLIES_WITH)
        tg_posts = demo_telegram.seed_telegram(fake_tg, random.Random(args.seed + 2), now)
        config_path = _write_config(
            folder, fake.url, fake_ok.url, "info" if args.verbose else "warning"
        )
        config = wiring.load_config(config_path)
        configure_logging(config.log_level, config.log_format, wiring.known_secrets(config))
        engine = wiring.open_engine(config)
        migrate.upgrade(engine)
        sources = wiring.build_sources(
            config, builders={"telegram": partial(telegram.build, gateway=fake_tg)}
        )
        ruleset = wiring.load_rules(config)
        labels = {t.id: t.title for t in ruleset.topics.values()}
        model = training.ActiveModel(engine)
        worker = Worker(
            engine,
            sources,
            config.worker,
            wiring.build_ingestion(config, ruleset, model),
            listeners=[s.name for s in config.enabled_sources() if s.listens],
            sweep_intervals={s.name: config.sweep_interval(s.name) for s in config.sources},
            # no notification channel in the demo: the queue still marks near deadlines
            warn_step=wiring.build_warn_step(engine, config, [], labels),
            refresh_model=model.refresh,
        )
        web = None if args.no_web else _start_web(engine, config, args.host, args.port)
        vk_posts, vk_users = fake.post_ids(DEMO_GROUP_ID), fake.user_ids()

        def vk_comment(r: random.Random) -> object:
            return fake.add_comment(
                DEMO_GROUP_ID,
                r.choice(vk_posts),
                r.choice(vk_users),
                random_comment(r),
                date=int(time.time()),
            )

        arrivals: list[Callable[[random.Random], object]] = [
            vk_comment,
            partial(demo_ok.add_live_comment, fake_ok, ok_posts),
            partial(demo_telegram.add_live_comment, fake_tg, tg_posts),
        ]
        citizens = [
            threading.Thread(
                target=_citizens,
                args=(add, random.Random(args.seed + 10 + n), args.comment_every, stop),
                daemon=True,
            )
            for n, add in enumerate(arrivals)
        ]
        operator = threading.Thread(
            target=_operator, args=(engine, args.reply_every, stop), daemon=True
        )
        print(f"demo: fake VK API at {fake.url} (community {DEMO_GROUP_ID})")
        print(
            f"demo: fake OK API at {fake_ok.url} (group {demo_ok.GROUP_ID}); it refuses every "
            "reply through the API: answer those by hand in OK"
        )
        print(f"demo: Telegram in memory (channel @{demo_telegram.CHANNEL})")
        print(f"demo: database and config in {folder}")
        command = f"{how_to_run()} --config {shlex.quote(str(config_path))}"
        print(f"demo: in another terminal:  {command} queue")
        print(f"                            {command} status")
        if web is not None:
            print(f"demo: web app at {web.url}/  login: {DEMO_LOGIN}  password: {DEMO_PASSWORD}")
        print("demo: new comments arrive every few seconds on each platform; Ctrl-C to stop")
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        for thread in citizens:
            thread.start()
        operator.start()
        try:
            worker.run_until_signal(
                extra_stop=lambda: deadline is not None and time.monotonic() >= deadline
            )
        finally:
            stop.set()
            for thread in citizens:
                thread.join(2)
            operator.join(2)
            if web is not None:
                web.stop()
            for s in sources:
                s.close()
        with engine.connect() as conn:
            totals = inbox.counts(conn)
            per_platform = inbox.comments_by_platform(conn)
        engine.dispose()
    print(
        f"demo: {count_en(totals['comments'], 'comment', 'comments')} stored, "
        f"{count_en(totals['open'], 'incident', 'incidents')} open, "
        f"{count_en(totals['posted'], 'reply', 'replies')} posted"
    )
    print(
        "demo: by platform "
        + " ".join(f"{name}={per_platform.get(name, 0)}" for name in PLATFORM_ORDER)
    )
    return 0


def ensure_demo_account(engine: Engine, now: datetime) -> None:
    """The demo's staff login: created on the first run, its password reset on later ones."""
    with engine.begin() as conn:
        if users.get_user(conn, DEMO_LOGIN) is None:
            users.add_user(
                conn,
                DEMO_LOGIN,
                DEMO_PASSWORD,
                users.Role.ADMIN,
                now,
                display_name="Демо-сотрудник",
                actor="demo",
            )
        else:
            users.set_password(conn, DEMO_LOGIN, DEMO_PASSWORD, now, actor="demo")
            users.set_disabled(conn, DEMO_LOGIN, False, now, actor="demo")
        if users.get_user(conn, OPERATOR) is None:
            # the automatic demo operator is shown by a name like everyone else; it never logs in
            users.add_user(
                conn,
                OPERATOR,
                secrets.token_urlsafe(24),
                users.Role.STAFF,
                now,
                display_name="Демо-оператор (автоматически)",
                actor="demo",
            )
            users.set_disabled(conn, OPERATOR, True, now, actor="demo")


def _start_web(engine: Engine, config: Config, host: str, port: int) -> BackgroundServer:
    ensure_demo_account(engine, utc_now())
    settings = WebSettings(
        secret=secrets.token_urlsafe(48),
        secure_cookies=False,  # plain HTTP on the demo's local address
        rules_dir=config.rules_dir,
        replies_dir=config.replies_dir,
        sla=config.sla,
        warm_stats=True,
    )
    web = create_app(engine, settings)
    apply_reply_values(web.state.suggestions, config)
    try:
        return BackgroundServer(web, host, port).start()
    except RuntimeError:
        print(f"demo: {host}:{port} is busy; starting the web app on a free port instead")
        return BackgroundServer(web, host, 0).start()


def _citizens(
    add: Callable[[random.Random], object], rng: random.Random, every: float, stop: threading.Event
) -> None:
    """A new realistic comment on one platform every ``every`` seconds (with jitter)."""
    while not stop.wait(every * rng.uniform(0.5, 1.5)):
        add(rng)


def answer_oldest(engine: Engine, now: datetime, platform: str | None = None) -> int | None:
    """The demo operator's one step: queue the demo reply to the oldest open incident (of
    ``platform``, if given) nobody else works on: no one's live claim or assignment, no reply
    yet (a failed one, like OK's «ответьте вручную», is left to a person). The incident's id,
    or None if none was answered."""
    with engine.begin() as conn:
        target = inbox.oldest_unattended(conn, OPERATOR, now, platform)
        if target is None:
            return None
        try:
            inbox.queue_reply(conn, target, DEMO_REPLY, OPERATOR, now)
        except inbox.ReplyNotAllowed:
            return None  # taken in the meantime; the next round picks another
        return target


def _operator(engine: Engine, every: float, stop: threading.Event) -> None:
    """The demo's staff member: now and then answers the oldest unattended incident, taking
    the platforms in turn (so that a short run shows replies on each; a platform with nothing
    to answer passes its turn on)."""
    turn = 0
    while not stop.wait(every):
        for step in range(len(PLATFORM_ORDER)):
            platform = PLATFORM_ORDER[(turn + step) % len(PLATFORM_ORDER)]
            if answer_oldest(engine, utc_now(), platform) is not None:
                break
        turn += 1
