"""``incident web``: serve the staff web app with uvicorn."""

from __future__ import annotations

import argparse
import secrets
import sys

from incident import users
from incident.commands.common import database, load, settle_heap
from incident.config import Config
from incident.web import WebSettings, create_app
from incident.web.auth import SecretError, load_secret
from incident.web.suggestions import Suggestions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("web", help="serve the staff web app (queue, incident cards, accounts)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send the session cookie over plain HTTP too (development without TLS only)",
    )
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from a reverse proxy on this machine",
    )
    p.set_defaults(handler=cmd_web, private_umask=True)


def session_secret() -> str:
    """The configured secret, or a random one for this process (sessions end on restart)."""
    try:
        secret = load_secret()
    except (OSError, SecretError) as exc:
        raise SystemExit(f"incident web: session secret: {exc}") from exc
    if secret is None:
        print(
            "incident web: no INCIDENT_WEB_SECRET / INCIDENT_WEB_SECRET_FILE / systemd credential "
            "'incident-web-secret': using a random secret; sessions end when the process stops "
            "and cannot be shared between several web processes",
            file=sys.stderr,
        )
        secret = secrets.token_urlsafe(48)
    return secret


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    config = load(args)
    settings = WebSettings(
        secret=session_secret(),
        secure_cookies=not args.insecure_cookies,
        rules_dir=config.rules_dir,
        replies_dir=config.replies_dir,
        sla=config.sla,
        warm_stats=True,
        survey_definition=config.survey.definition,
        public_url=config.public_url,
        rating_links=config.survey.rating_links,
    )
    users.announce_test_hashes()
    with database(config) as engine:
        web = create_app(engine, settings)
        apply_reply_values(web.state.suggestions, config)
        settle_heap()
        uvicorn.run(
            web,
            host=args.host,
            port=args.port,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips="127.0.0.1" if args.proxy_headers else None,
            log_level=config.log_level.lower(),
            log_config=None,  # its lines go through our formatter (incident.logs), not its own
            access_log=False,
        )
    return 0


def apply_reply_values(suggestions: Suggestions, config: Config) -> None:
    """Fill the reply templates' placeholders from the deployment's configuration."""
    suggestions.hotline = config.reply_values.hotline or None
    suggestions.gosuslugi_link = config.reply_values.gosuslugi_link or None
    for s in config.sources:
        # keyed by platform too: a VK and an OK page may have the same numeric id
        key = (s.platform, s.community)
        suggestions.places[key] = (s.display_name or None, s.private_link or None)
