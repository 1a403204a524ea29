"""The classifier's rules, kept as data in ``rules/``: the compiled model and its loader."""

from incident.rules.load import load_ruleset
from incident.rules.model import (
    FLAGS_FILE,
    INTENTS,
    SPECIAL_TOPICS,
    Lexicon,
    Phrase,
    Redirect,
    RulesError,
    RuleSet,
    Settings,
    Topic,
)

__all__ = [
    "FLAGS_FILE",
    "INTENTS",
    "SPECIAL_TOPICS",
    "Lexicon",
    "Phrase",
    "Redirect",
    "RuleSet",
    "RulesError",
    "Settings",
    "Topic",
    "load_ruleset",
]
