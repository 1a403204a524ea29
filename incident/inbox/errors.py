"""Refusals of staff actions, with the message each audience reads."""

from __future__ import annotations


class ActionRefused(Exception):
    """The action is not possible right now; ``str()`` is the message for staff (Russian),
    shown as is by the web app (a flash message, or a 409 from the API)."""


class ReplyNotAllowed(ActionRefused):
    """``queue_reply`` refused: ``message`` says why for staff (Russian), ``reason`` the same
    for the command line and logs (English). ``str()`` carries both, so whoever shows it
    as an ``ActionRefused`` and whoever logs it both find theirs."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(f"{message} [{reason}]")
        self.message = message
        self.reason = reason
