"""Reply templates kept as data in ``replies/``: load and validate them, rank drafts for a
verdict, check their wording."""

from incident.replies.load import load_replies
from incident.replies.model import (
    KINDS,
    PLACEHOLDERS,
    PLATFORMS_FILE,
    PRIVATE_REASONS,
    Catalog,
    Draft,
    RepliesError,
    ReplyContext,
    ReplyTemplate,
)
from incident.replies.names import first_name, plausible_name
from incident.replies.suggest import kinds_offered, suggest
from incident.replies.wording import (
    MAX_CHARS,
    OFFICIALESE,
    plain_language_problems,
    sample_render,
)

__all__ = [
    "KINDS",
    "MAX_CHARS",
    "OFFICIALESE",
    "PLACEHOLDERS",
    "PLATFORMS_FILE",
    "PRIVATE_REASONS",
    "Catalog",
    "Draft",
    "RepliesError",
    "ReplyContext",
    "ReplyTemplate",
    "first_name",
    "kinds_offered",
    "load_replies",
    "plain_language_problems",
    "plausible_name",
    "sample_render",
    "suggest",
]
