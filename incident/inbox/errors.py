"""Refusals of staff actions, with the message each audience reads."""

from __future__ import annotations


class ActionRefused(Exception):
    """The action is not possible right now; ``str()`` is the message for staff (Russian),
    shown as is by the web app (a flash message, or a 409 from the API)."""


class ReplyNotAllowed(ActionRefused):
    """``queue_reply`` refused: ``str()`` and ``message`` say why for staff (Russian, shown
    as is by the web app like any ``ActionRefused``); ``reason`` says the same for the
    command line and logs (English)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
