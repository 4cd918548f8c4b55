"""Deterministic example values generated from schemas (never random, never an error string)."""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from typing import Any, TypeGuard

from ..refs.resolve import RefResolver
from .patterns import matching_string

MAX_DEPTH = 12
"""Nesting depth at which generated examples stop descending (deep or recursive schemas)."""

MAX_NODES = 2_000
MAX_REFS = 40
"""Longest chain of `$ref`s followed inside one example (through properties, items, allOf...)."""
"""Most schema nodes one generated example visits: wide, deeply nested schemas are cut, not
expanded."""
MAX_SIZE = 100_000
"""Most characters of text one generated example holds, over all its strings and keys and each copy
of an array item: `minLength`, patterns and nested arrays multiply (a string asking for more is cut
to fit)."""

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
        self.budget = 0
        self.room = 0  # characters the example being made may still hold
        self.made: dict[
            tuple[int | str, bool], tuple[Any, Any]
        ] = {}  # (schema key, for_request) -> (schema, value)

    def example(self, schema: Any, *, for_request: bool) -> Any:
        """A value that fits `schema`: the spec's own example or default when given, else a
        generated one.

        Each schema's example is made once (an error response that every operation refers to is
        generated once, not 450 times); the value is shared, so callers must not change it."""
        ref = schema.get("$ref") if isinstance(schema, dict) and len(schema) == 1 else None
        key = (ref if isinstance(ref, str) else id(schema), for_request)
        made = self.made.get(key)
        if made is not None and (isinstance(ref, str) or made[0] is schema):
            return made[1]
        self.budget = MAX_NODES
        self.room = MAX_SIZE
        value = self._value(schema, for_request, (), 0)
        value = {} if value is _CUT else value
        self.made[key] = (schema, value)  # the schema is kept alive with it: its id stays its own
        return value

    def _value(self, schema: Any, for_request: bool, refs: tuple[str, ...], depth: int) -> Any:
        self.budget -= 1
        self.room -= 1  # a number, a boolean, the punctuation around a value
        if depth > MAX_DEPTH or self.budget < 0 or self.room < 0:
            return _CUT
        if not isinstance(schema, dict):
            return None if schema is False else {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs or len(refs) >= MAX_REFS:
                return _CUT
            target = self.resolver.deref(schema)
            if not isinstance(target, dict):
                return {}  # broken reference, already reported: an empty object degrades cleanly
            if "in" in target and "name" in target and isinstance(target.get("schema"), dict):
                target = target["schema"]  # a $ref to a parameter where a schema belongs (reported)
            return self._value(target, for_request, (*refs, ref), depth)
        given = _given_value(schema)
        if given is not _CUT:
            # the spec's own value, kept whole; copies of it count against the room
            self.room -= _size(given)
            return copy.deepcopy(given)
        if isinstance(schema.get("allOf"), list):
            return self._all_of(schema, for_request, refs, depth)
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                value = self._value(
                    _first_non_null(branches, self.resolver), for_request, refs, depth
                )
                return {} if value is _CUT else value
        return self._by_type(schema, for_request, refs, depth)

    def _all_of(
        self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int
    ) -> Any:
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

    def _by_type(
        self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int
    ) -> Any:
        kind = _schema_type(schema)
        if kind == "object":
            return self._object(schema, for_request, refs, depth)
        if kind == "array":
            room = self.room
            item = self._value(schema.get("items", {}), for_request, refs, depth + 1)
            count = schema.get("minItems", 1) if isinstance(schema.get("minItems"), int) else 1
            if item is _CUT:
                return []
            size = max(1, room - self.room)
            # each copy counts against the room
            count = max(1, min(count, 3, 1 + max(0, self.room) // size))
            self.room -= size * (count - 1)
            items = [copy.deepcopy(item) for _ in range(count)]
            return _distinct(items) if schema.get("uniqueItems") is True else items
        if kind == "string":
            text = _string(schema, max(0, self.room))
            self.room -= len(text)
            return text
        if kind in ("integer", "number"):
            return _number(schema, kind)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return {}

    def _object(
        self, schema: dict[str, Any], for_request: bool, refs: tuple[str, ...], depth: int
    ) -> Any:
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
                    self.room -= len(name)
        return result


def _given_value(schema: dict[str, Any]) -> Any:
    """The schema's own example, default, const or first enum value; _CUT when it gives none."""
    if "example" in schema:
        return schema["example"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return next((v for v in enum if v is not None), enum[0])
    return _CUT


def _size(value: Any) -> int:
    """About how many characters `value` takes as JSON: its strings and keys, one for any other
    value."""
    size, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            size += 1 + sum(len(key) if isinstance(key, str) else 1 for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            size += 1
            stack.extend(item)
        else:
            size += 1
    return size


def _distinct(items: list[Any]) -> list[Any]:
    """Make repeated generated items differ, for `uniqueItems`."""
    result = []
    for index, item in enumerate(items):
        if index and isinstance(item, str):
            item = f"{item}{index + 1}"
        elif index and _is_number(item):
            item = item + index
        result.append(item)
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


def _string(schema: dict[str, Any], room: int) -> str:
    """A string that fits `schema`, of at most `room` characters (then it may be shorter than
    `minLength`)."""
    fmt = schema.get("format")
    value = (
        str(_FORMAT_EXAMPLES[fmt]) if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES else "string"
    )
    min_length = schema.get("minLength")
    max_length = schema.get("maxLength")
    if isinstance(min_length, int) and len(value) < min_length:
        # formats with a fixed shape rarely set minLength
        value = value + "x" * (min(min_length, room) - len(value))
    if isinstance(max_length, int) and len(value) > max_length:
        value = value[:max_length]
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        matched = matching_string(
            pattern,
            value,
            min_length if isinstance(min_length, int) else 0,
            max_length if isinstance(max_length, int) else None,
        )
        if matched is not None:
            value = matched
    return value[:room]


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A number a double can hold: not NaN, not infinite, not an integer of hundreds of digits
    (which math and float() cannot take)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -_FLOAT_RANGE < value < _FLOAT_RANGE
    )


_FLOAT_RANGE = 2**1023


def _number(schema: dict[str, Any], kind: str) -> int | float:
    """The simplest value inside the bounds (0 when allowed), as an int for integers."""
    lower, lower_open = _bound(schema, "minimum", "exclusiveMinimum")
    upper, upper_open = _bound(schema, "maximum", "exclusiveMaximum")
    value: float = 0
    if lower is not None and (lower > 0 or (lower == 0 and lower_open)):
        value = lower + 1 if lower_open else lower
        if kind == "integer":
            value = math.floor(lower) + 1 if lower_open or lower != math.floor(lower) else lower
    elif upper is not None and (upper < 0 or (upper == 0 and upper_open)):
        value = upper - 1 if upper_open else upper
        if kind == "integer":
            value = math.ceil(upper) - 1 if upper_open or upper != math.ceil(upper) else upper
    if (
        lower is not None
        and upper is not None
        and (value > upper or (value == upper and upper_open))
    ):
        value = (lower + upper) / 2  # a narrow range: take its middle
    multiple = schema.get("multipleOf")
    if _is_number(multiple) and multiple > 0 and abs(value / multiple) < 1e15:
        digits = max(0, -int(Decimal(str(multiple)).as_tuple().exponent))
        value = round(math.ceil(value / multiple) * multiple, digits)
    if kind == "integer" or float(value).is_integer():
        return int(value)
    return value


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """(limit, open) from OpenAPI 3.0 (boolean exclusive*) or 3.1 (numeric exclusive*) keywords."""
    numeric = schema.get(exclusive)
    if _is_number(numeric):
        return float(numeric), True
    limit = schema.get(inclusive)
    if _is_number(limit):
        return float(limit), schema.get(exclusive) is True
    return None, False
