"""The staff web app: queue, incident card, actions, accounts. See ``create_app``."""

from incident.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
