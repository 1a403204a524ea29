"""Validate VK API responses and Bots Long Poll events against VK's official schema (5.199).

The vendored schema in ``tests/vk_schema/`` marks required properties draft-03 style
(``"required": true`` on the property), which jsonschema 4.x rejects; the files are loaded once,
those flags are moved into the parent's ``required`` array in memory, and every file is registered
under its ``file://`` URI so the relative cross-file ``$ref``s resolve.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_DIR = Path(__file__).parent / "vk_schema"

# Long poll event type -> the callback definition of its ``object``.
_EVENT_OBJECTS = {
    "wall_reply_new": "callback_wall_reply_new",
    "wall_reply_edit": "callback_wall_reply_edit",
    "wall_reply_restore": "callback_wall_reply_restore",
    "wall_reply_delete": "callback_wall_comment_delete",
    "wall_post_new": "callback_wall_post_new",
}


class SchemaMismatchError(AssertionError):
    """A body does not match VK's schema; the message names the path and the reason."""


def _fix_required(node: Any) -> Any:
    """Return ``node`` with draft-03 ``"required": true`` flags turned into ``required`` arrays."""
    if isinstance(node, list):
        return [_fix_required(item) for item in node]
    if not isinstance(node, dict):
        return node
    fixed = {key: _fix_required(value) for key, value in node.items()}
    properties = fixed.get("properties")
    if isinstance(properties, dict):
        names = [
            name
            for name, prop in node["properties"].items()
            if isinstance(prop, dict) and prop.get("required") is True
        ]
        existing = fixed.get("required")
        if names or isinstance(existing, bool):
            keep = existing if isinstance(existing, list) else []
            fixed["required"] = keep + [name for name in names if name not in keep]
    if isinstance(fixed.get("required"), bool):
        del fixed["required"]
    return fixed


@functools.cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        contents = _fix_required(json.loads(path.read_text(encoding="utf-8")))
        contents.pop("$schema", None)  # "../schema.json" is VK's meta-schema, not a draft URI
        resources.append((path.resolve().as_uri(), Resource.from_contents(contents, DRAFT7)))
    return Registry().with_resources(resources)


def _file_uri(relative: str) -> str:
    return (SCHEMA_DIR / relative).resolve().as_uri()


@functools.cache
def _methods() -> dict[str, dict[str, Any]]:
    methods: dict[str, dict[str, Any]] = {}
    for path in SCHEMA_DIR.glob("*/methods.json"):
        for method in json.loads(path.read_text(encoding="utf-8"))["methods"]:
            methods[method["name"]] = {"folder": path.parent.name, **method}
    return methods


@functools.cache
def _validator(ref: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": ref}, registry=_registry())


def _check(ref: str, body: Any, what: str) -> None:
    errors = sorted(_validator(ref).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"  at /{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in errors[:10]
        ]
        raise SchemaMismatchError(
            f"{what} does not match {ref.rsplit('/', 1)[-1]}:\n" + "\n".join(lines)
        )


def response_ref(method: str, body: Any) -> str:
    """The schema reference a response body of ``method`` is validated against.

    Methods with an ``extendedResponse`` use it when the body carries ``profiles`` (extended=1).
    """
    try:
        spec = _methods()[method]
    except KeyError:
        raise SchemaMismatchError(f"no vendored schema describes method {method!r}") from None
    responses = spec["responses"]
    inner = body.get("response") if isinstance(body, dict) else None
    key = "response"
    if "extendedResponse" in responses and isinstance(inner, dict) and "profiles" in inner:
        key = "extendedResponse"
    relative: str = responses[key]["$ref"]  # e.g. "../wall/responses.json#/definitions/x"
    file_part, pointer = relative.split("#", 1)
    return _file_uri(str(Path(spec["folder"]) / file_part)) + "#" + pointer


def validate_response(method: str, body: Any) -> None:
    """Raise ``SchemaMismatchError`` unless ``body`` (the whole ``{"response": ...}``) matches."""
    _check(response_ref(method, body), body, f"response of {method}")


def validate_event(event: Any) -> None:
    """Raise ``SchemaMismatchError`` unless a Bots Long Poll event and its object match."""
    _check(_file_uri("callback/objects.json") + "#/definitions/callback_base", event, "event")
    definition = _EVENT_OBJECTS.get(event["type"])
    if definition is None:
        raise SchemaMismatchError(f"no callback schema mapped for event type {event['type']!r}")
    ref = _file_uri("callback/objects.json") + "#/definitions/" + definition
    _check(ref, event["object"], f"object of {event['type']} event")


def error_codes() -> set[int]:
    """Every error code VK's ``errors.json`` names."""
    data = json.loads((SCHEMA_DIR / "errors.json").read_text(encoding="utf-8"))
    return {int(error["code"]) for error in data["errors"].values()}
