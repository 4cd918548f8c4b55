"""Fast path "jsonschema-rs": jsonschema-rs (Rust) answers "valid?" for a schema check, and narrows
the reference validator (Python jsonschema reading patterns as ECMA-262, in schema_check.py) to the
invalid branches when it says no. A schema holding a pattern its engine may read otherwise
(`ecma_regex.read_alike_by_jsonschema_rs`) leaves the reference to answer alone."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..ecma_regex import read_alike_by_jsonschema_rs

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


def fast_schema_facts(schema: dict[str, Any]) -> tuple[bool, bool]:
    """Whether jsonschema-rs reads every `pattern` and `patternProperties` name of `schema` as the
    reference does, and whether any subschema below the root sets its own base URI (looked for
    only while the first answer is yes). Only schema positions are looked at: an `enum`, `const` or
    `default` value holding a "pattern" key is data."""
    nested_ids = False
    stack: list[tuple[Any, bool]] = [(schema, True)]
    while stack:
        node, root = stack.pop()
        if isinstance(node, list):
            stack.extend((item, False) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        base = node.get("$id", node.get("id"))
        # "#name" names, not a new base
        if not root and isinstance(base, str) and not base.startswith("#"):
            nested_ids = True
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                if not read_alike_by_jsonschema_rs(value):
                    return False, nested_ids
            elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
                if key == "patternProperties" and not all(
                    read_alike_by_jsonschema_rs(name) for name in value
                ):
                    return False, nested_ids
                stack.extend((sub, False) for sub in value.values())
            elif key in _SCHEMA_KEYWORDS:
                stack.append((value, False))
    return True, nested_ids


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
