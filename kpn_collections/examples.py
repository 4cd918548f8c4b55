"""Deterministic example values generated from schemas (never random, never an error string)."""

from __future__ import annotations

import copy
from typing import Any

from .resolve import RefResolver

MAX_DEPTH = 12
"""Nesting depth at which generated examples stop descending (deep or recursive schemas)."""

_FORMAT_EXAMPLES: dict[str, Any] = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uri-reference": "https://example.com",
    "iri": "https://example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "binary": "",
    "password": "",
    "duration": "P1D",
    "regex": ".*",
    "json-pointer": "/",
}


class _Cut:
    """A branch left out because it recursed or nested too deep."""


_CUT = _Cut()


class ExampleGenerator:
    """Generates example values, following `$ref`s through the API's resolver."""

    def __init__(self, resolver: RefResolver):
        self.resolver = resolver

    def example(self, schema: Any, *, for_request: bool) -> Any:
        """A value that fits `schema`: the spec's own example or default when given, else a generated one."""
        value = self._value(schema, for_request, (), 0)
        return {} if value is _CUT else value

    def _value(self, schema: Any, for_request: bool, refs: tuple[str, ...], depth: int) -> Any:
        if depth > MAX_DEPTH:
            return _CUT
        if not isinstance(schema, dict):
            return None if schema is False else {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                return _CUT
            target = self.resolver.deref(schema)
            if not isinstance(target, dict):
                return {}  # broken reference, already reported: an empty object degrades cleanly
            if "in" in target and "name" in target and isinstance(target.get("schema"), dict):
                target = target["schema"]  # a $ref to a parameter where a schema belongs (reported)
            return self._value(target, for_request, (*refs, ref), depth)
        if "example" in schema:
            return copy.deepcopy(schema["example"])
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            return copy.deepcopy(examples[0])
        if "default" in schema:
            return copy.deepcopy(schema["default"])
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return copy.deepcopy(next((v for v in enum if v is not None), enum[0]))
        if isinstance(schema.get("allOf"), list):
            return self._all_of(schema, for_request, refs, depth)
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                value = self._value(_first_non_null(branches, self.resolver), for_request, refs, depth)
                return {} if value is _CUT else value
        return self._by_type(schema, for_request, refs, depth)

    def _all_of(self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int) -> Any:
        merged: dict[str, Any] = {}
        other: Any = _CUT
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            value = self._value(part, for_request, refs, depth)
            if isinstance(value, dict):
                merged.update(value)
            elif value is not _CUT and value != {}:
                other = value
        if not merged and other is not _CUT:
            return other
        return merged

    def _by_type(self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int) -> Any:
        kind = _schema_type(schema)
        if kind == "object":
            return self._object(schema, for_request, refs, depth)
        if kind == "array":
            item = self._value(schema.get("items", {}), for_request, refs, depth + 1)
            count = schema.get("minItems", 1) if isinstance(schema.get("minItems"), int) else 1
            return [] if item is _CUT else [copy.deepcopy(item) for _ in range(max(1, min(count, 3)))]
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, kind)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return {}

    def _object(self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int) -> Any:
        result: dict[str, Any] = {}
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, prop in properties.items():
                resolved = self.resolver.deref(prop) if isinstance(prop, dict) else prop
                if isinstance(resolved, dict):
                    if for_request and resolved.get("readOnly") is True:
                        continue
                    if not for_request and resolved.get("writeOnly") is True:
                        continue
                value = self._value(prop, for_request, refs, depth + 1)
                if value is not _CUT:
                    result[name] = value
        return result


def _first_non_null(branches: list[Any], resolver: RefResolver) -> Any:
    for branch in branches:
        target = resolver.deref(branch)
        if not (isinstance(target, dict) and target.get("type") == "null"):
            return branch
    return branches[0]


def _schema_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return ""


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES:
        return str(_FORMAT_EXAMPLES[fmt])
    value = "string"
    min_length = schema.get("minLength")
    max_length = schema.get("maxLength")
    if isinstance(min_length, int) and len(value) < min_length:
        value = value + "x" * (min_length - len(value))
    if isinstance(max_length, int) and len(value) > max_length:
        value = value[:max_length]
    return value


def _number(schema: dict[str, Any], kind: str) -> int | float:
    minimum = schema.get("minimum")
    maximum = schema.get("maximum")
    exclusive_min = schema.get("exclusiveMinimum")
    value: float = 0
    if isinstance(exclusive_min, (int, float)) and not isinstance(exclusive_min, bool):  # 3.1 style
        value = exclusive_min + 1
    elif isinstance(minimum, (int, float)) and not isinstance(minimum, bool):
        value = minimum + (1 if exclusive_min is True else 0)
    elif isinstance(maximum, (int, float)) and not isinstance(maximum, bool) and maximum < 0:
        value = maximum - (1 if schema.get("exclusiveMaximum") is True else 0)
    multiple = schema.get("multipleOf")
    if isinstance(multiple, (int, float)) and not isinstance(multiple, bool) and multiple > 0:
        value = -(-value // multiple) * multiple
    if kind == "integer":
        return int(value)
    return value
