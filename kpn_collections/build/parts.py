"""What every part of a collection is built from: stable ids, script events, collection
variables, the JSON text of example data, and the text a tester reads beside a field."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..auth.postman import AuthVariable
from ..refs.resolve import RefResolver
from ..write import json_text
from .example_check import scalar_text

ID_NAMESPACE = uuid.UUID("7b1d5c9e-4f0a-5b8e-9c3d-2a6f8e1b4c70")


def stable_id(*parts: str) -> str:
    """A UUID derived from stable names, so the same input always gives the same ids."""
    name = "\x1f".join(parts)
    # a lone surrogate (a `\\ud800` escape in JSON) is no UTF-8: hashed as its escape
    if not name.isascii():
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return str(uuid.uuid5(ID_NAMESPACE, name))


@dataclass
class Variables:
    """Collection variables in the order they are first needed; each key declared once."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the variables an auth scheme reads, in order
    auth_keys: list[str] = field(default_factory=list)

    def declare(self, key: str, value: str, description: str) -> None:
        if key not in self.entries:
            self.entries[key] = {
                "key": key,
                "value": value,
                "type": "string",
                "description": description,
            }

    def declare_auth(self, variables: Iterable[AuthVariable]) -> None:
        for variable in variables:
            self.declare(variable.key, "", variable.description)
            if variable.key not in self.auth_keys:
                self.auth_keys.append(variable.key)


def script_event(listen: str, script_id: str | None, text: str) -> dict[str, Any]:
    """A script event (`prerequest` or `test`); Postman keeps script text as a list of lines.
    Without an id, the script is only its lines (Postman's defaults: JavaScript, an id of its own):
    every API request has one, and in big collections the id and type add up."""
    # only newlines: str.splitlines() would also cut at U+2028, \x0b, \x1c, ...
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if script_id is None:
        return {"listen": listen, "script": {"exec": lines}}
    return {"listen": listen, "script": {"id": script_id, "type": "text/javascript", "exec": lines}}


def type_text(schema: Any, resolver: RefResolver, depth: int = 0) -> str:
    """A schema's type as a tester reads it (`string (date)`, `array of string`, `object`); a `$ref`
    is followed, so an internal schema name (`healthState1`) never shows."""
    schema = resolver.deref(schema)
    if not isinstance(schema, dict) or depth > 3:
        return ""
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " | ".join(str(k) for k in kind)
    elif isinstance(kind, str):
        text = kind
    elif "items" in schema:
        text = "array"
    elif "properties" in schema or "additionalProperties" in schema:
        text = "object"
    else:
        branches = [b for key in ("oneOf", "anyOf", "allOf") for b in _list(schema.get(key))]
        texts = [t for t in (type_text(b, resolver, depth + 1) for b in branches) if t]
        text = texts[0] if "allOf" in schema and texts else " or ".join(dict.fromkeys(texts))
    if text == "array":
        items = type_text(schema.get("items"), resolver, depth + 1)
        text = f"array of {items}" if items else text
    if isinstance(schema.get("format"), str) and schema["format"]:
        text = f"{text} ({schema['format']})"
    return text


def constraints(schema: Any, resolver: RefResolver) -> tuple[list[str], str]:
    """The allowed values and the pattern of a value (of an array's items when it is an array)."""
    schema = resolver.deref(schema)
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = resolver.deref(schema.get("items"))
    if not isinstance(schema, dict):
        return [], ""
    enum = [scalar_text(v) for v in _list(schema.get("enum"))]
    pattern = schema.get("pattern")
    return enum, pattern if isinstance(pattern, str) else ""


def field_text(description: Any, schema: Any, required: bool, resolver: RefResolver) -> str:
    """A key-value field's description: `(Required)`, the definition's text, then type, allowed
    values and pattern (`(Required) The day. Type: string (date).`)."""
    enum, pattern = constraints(schema, resolver)
    kind = type_text(schema, resolver)
    parts = [
        "(Required)" if required else "",
        description.strip() if isinstance(description, str) else "",
        f"Type: {kind}." if kind else "",
        "One of: " + ", ".join(enum) + "." if enum else "",
        f"Pattern: {pattern}" if pattern else "",
    ]
    return " ".join(p for p in parts if p)


def described(entry: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        entry["description"] = description
    return entry


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def json_body_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            json.loads(value, parse_constant=_not_json)
            return value  # the spec gave the body as JSON text already
        except ValueError:
            pass
    return json_text(_json_numbers(value))


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_numbers(value: Any) -> Any:
    """Example data with infinite and NaN numbers (YAML's .inf, .nan) as null: JSON has no such
    numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value
