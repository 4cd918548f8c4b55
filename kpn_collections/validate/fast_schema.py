"""Fast path "jsonschema-rs": jsonschema-rs (Rust) answers "valid?" for a schema check, and narrows
the reference validator (Python jsonschema, in schema_check.py) to the invalid branches when it
says no. It reads `pattern`s by ECMA-262, Python's `re` by its own rules, so schemas reach it with
their patterns rewritten to Python's reading (`python_regex`); a pattern beyond the rewrite leaves
the reference to answer alone."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - jsonschema-rs ships wheels for the usual platforms
    jsonschema_rs = None  # type: ignore[assignment]


def narrowed(reference: Any, fast_schema: dict[str, Any]) -> Any:
    """The reference validator, except that a `$ref` to one of the schema's definitions is first
    asked of jsonschema-rs, and not followed when the Rust validator says the value there is valid:
    explaining an error only needs the branches that hold one. A valid subtree yields no errors from
    the reference validator either (the same assumption as `iter_errors` makes for a whole
    document), so the errors, their order and their detail are the reference validator's.
    Definitions are found by `$ref`s of the form `#/definitions/...` or `#/$defs/...`, read against
    the root; anything else, and every `$ref` of a schema whose subschemas set their own base URI
    (`id`, `$id`), is followed the reference way."""
    from jsonschema.validators import extend

    base = type(reference)
    follow = base.VALIDATORS["$ref"]
    fast_for = functools.cache(functools.partial(_fast_definition_check, fast_schema))

    def ref(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        fast = fast_for(ref) if isinstance(ref, str) else None
        if fast is not None and _said_valid(fast, instance):
            return
        yield from follow(validator, ref, instance, schema)

    return extend(base, {"$ref": ref})(reference.schema)


_SCHEMA_KEYWORDS = frozenset(
    {
        "not",
        "if",
        "then",
        "else",
        "items",
        "additionalItems",
        "additionalProperties",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
        "allOf",
        "anyOf",
        "oneOf",
        "prefixItems",
    }
)
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas", "dependencies"}
)


class _UnknownPattern(Exception):
    pass


def with_python_regexes(schema: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """A copy of `schema` whose `pattern`s and `patternProperties` names jsonschema-rs reads as
    Python's `re` reads the originals (see `python_regex`), and whether any subschema below the root
    sets its own base URI; None when a pattern is beyond the rewrite. Only schema positions are
    rewritten: an `enum`, `const` or `default` value holding a "pattern" key is data, and left as it
    is."""
    nested_ids = False

    def rewrite(node: Any, root: bool = False) -> Any:
        nonlocal nested_ids
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        base = node.get("$id", node.get("id"))
        # "#name" names, not a new base
        if not root and isinstance(base, str) and not base.startswith("#"):
            nested_ids = True
        copy = {}
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                value = _rewritten(value)
            elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
                value = {
                    (_rewritten(name) if key == "patternProperties" else name): rewrite(sub)
                    for name, sub in value.items()
                }
            elif key in _SCHEMA_KEYWORDS:
                value = rewrite(value)
            copy[key] = value
        return copy

    try:
        return rewrite(schema, root=True), nested_ids
    except _UnknownPattern:
        return None


def _rewritten(pattern: str) -> str:
    rewritten = python_regex(pattern)
    if rewritten is None:
        raise _UnknownPattern(pattern)
    return rewritten


def decimal_digit_ranges() -> tuple[tuple[int, int], ...]:
    """The code point ranges of this Python's decimal digits (its `\\d`: Unicode category Nd by the
    interpreter's own tables, which are older than the Rust engine's). Digits come in runs of ten (a
    Unicode stability rule), so looking at every tenth code point finds each run."""
    ranges: list[tuple[int, int]] = []
    code = 0
    while code < 0x110000:
        if chr(code).isdecimal():
            start = end = code
            while chr(start - 1).isdecimal():
                start -= 1
            while end + 1 < 0x110000 and chr(end + 1).isdecimal():
                end += 1
            if not ranges or ranges[-1][1] < start:
                ranges.append((start, end))
            code = end + 1
        code += 10
    return tuple(ranges)


@functools.cache
def _python_digits() -> str:
    r"""Python's `\d` as the inside of a bracket class (the digits themselves: literal characters
    mean the same to both engines)."""
    return "".join(f"{chr(start)}-{chr(end)}" for start, end in decimal_digit_ranges())


_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_LITERAL_ESCAPES = frozenset(".-/$^\\[](){}|*+?")
_CONTROL_ESCAPES = frozenset("nrtf")


def python_regex(pattern: str) -> str | None:
    r"""`pattern` rewritten so that an ECMA-262 regex engine (jsonschema-rs's) matches the strings
    Python's `re` matches with the original: `$` becomes "before an optional final newline, at the
    end", `.` "anything but a newline", `\d` "one of Python's decimal digits" (spelt out: the Rust
    engine's Unicode tables are newer). Literals, escaped punctuation, `\n \r \t \f`, bracket
    classes, groups (plain and `(?:`), alternation, `^` and the quantifiers mean the same to both
    and stay. Anything else (`\w`, `\s`, `\b`, lookaround, flags, back-references, ...) gives None:
    not rewritten, never guessed."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char, step = pattern[i], 1
        if char == "\\":
            escaped, step = pattern[i + 1 : i + 2], 2
            if escaped == "d":
                char = _python_digits() if in_class else f"[{_python_digits()}]"
            elif escaped and (escaped in _LITERAL_ESCAPES or escaped in _CONTROL_ESCAPES):
                char += escaped
            else:
                return None
        elif in_class:
            if char == "[":
                return None  # a nested set, to Python's future readings
            in_class = char != "]"
        elif char == "[":
            char = "[^" if pattern.startswith("[^", i) else "["
            step = len(char)
            if pattern[i + step : i + step + 1] in ("]", ""):
                # "[]...]" holds a literal "]" for Python, is an empty class for ECMA-262
                return None
            in_class = True
        elif char == "$":
            char = "(?=\\n?$)"
        elif char == ".":
            char = "[^\\n]"
        elif char == "(" and pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            return None
        elif char == "{":
            quantifier = _QUANTIFIER.match(pattern, i)
            if quantifier is None or not out:
                return None
            char = quantifier.group()
            step = len(char)
        elif char == "}":
            return None
        out.append(char)
        i += step
    return None if in_class else "".join(out)


_DEFINITIONS_KEYS = ("definitions", "$defs")
_RESOURCE_KEYS = ("$schema", "id", "$id", *_DEFINITIONS_KEYS)


def _said_valid(fast: Callable[[Any], bool], instance: Any) -> bool:
    """Whether jsonschema-rs says `instance` is valid; False for a value it cannot take (a lone
    surrogate from a `\\ud800` escape in a JSON definition is no UTF-8), which the reference
    validator then checks."""
    try:
        return fast(instance)
    except UnicodeEncodeError:
        return False


def _fast_definition_check(schema: dict[str, Any], ref: str) -> Callable[[Any], bool] | None:
    """jsonschema-rs's "valid?" for the definition `ref` names in `schema` (a wrapper schema with
    the same dialect, base URI and definitions, whose only check is that `$ref`), or None for any
    other reference."""
    parts = ref.split("/")
    if (
        len(parts) < 3
        or parts[0] != "#"
        or parts[1] not in _DEFINITIONS_KEYS
        or parts[1] not in schema
    ):
        return None
    wrapper = {key: schema[key] for key in _RESOURCE_KEYS if key in schema}
    try:
        return jsonschema_rs.validator_for(
            {**wrapper, "$ref": ref}, validate_formats=False
        ).is_valid
    except Exception:  # a reference jsonschema-rs cannot build: followed the reference way
        return None
