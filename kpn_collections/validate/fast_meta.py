"""Fast path "meta-check": schemas in a definition checked against the OpenAPI meta-schemas by
jsonschema-rs, with the visited-schema list kept as a set; the reference is openapi-spec-validator's
own check (library.py), which answers whenever this says anything but "valid"."""

from __future__ import annotations

import functools
from typing import Any

from openapi_schema_validator import (
    OAS30Validator,
    OAS31Validator,
    oas31_format_checker,
)

from .. import fast_paths
from ..walk import container_levels
from .schema_check import SchemaCheck, jsonschema_rs


class _IdSet(list[int]):
    """The list openapi-spec-validator keeps visited schema ids in, with set-speed membership: its
    own list makes the semantic pass quadratic in the number of schemas; same findings."""

    def __init__(self) -> None:
        super().__init__()
        self._members: set[int] = set()

    def append(self, item: int) -> None:
        self._members.add(item)
        super().append(item)

    def __contains__(self, item: object) -> bool:
        return item in self._members


def schema_keyword(base: type[Any], *, fast_meta: bool) -> type[Any]:
    class FastSchemaValidator(base):
        def __init__(self, registry: Any):
            super().__init__(registry)
            if fast_paths.enabled("meta-check"):
                self.visited_schema_ids = _IdSet()
                self.meta_checked_schema_ids = _IdSet()

        def _validate_schema_meta(self, schema: Any, schema_value: Any) -> Any:
            if fast_meta and oas30_meta_valid(schema_value):
                return None  # the reference check would find nothing (see oas30_meta_valid)
            return super()._validate_schema_meta(schema, schema_value)

    return FastSchemaValidator


@functools.cache
def oas30_meta_check() -> SchemaCheck:
    return SchemaCheck(dict(OAS30Validator.META_SCHEMA))


def oas30_meta_valid(schema: Any) -> bool:
    """True only when openapi-spec-validator's meta-check of an OpenAPI 3.0 / Swagger 2.0 schema
    (the draft-04 meta-schema, with the `regex` format checked) finds nothing: the Rust validator
    checks the structure, and every `pattern` string anywhere in the schema (a superset of those the
    meta-schema checks) must be a valid regex by the same format checker. False means "ask the
    reference check", never "invalid"."""
    if not fast_paths.enabled("meta-check"):
        return False
    check = oas30_meta_check()
    if check.fast is None or not check.fast(schema):
        return False
    return _all_patterns_conform(
        schema, OAS30Validator.FORMAT_CHECKER.conforms, pattern_names=False
    )


def _all_patterns_conform(schema: Any, conforms: Any, *, pattern_names: bool) -> bool:
    """Whether every `pattern` string in `schema` (and, with `pattern_names`, every
    `patternProperties` name) is a regex by the format checker's `conforms`; looked at level by
    level, each distinct pattern once."""
    checked: set[str] = set()
    for level in container_levels(schema):
        for node in level:
            if not isinstance(node, dict):
                continue
            patterns = [node.get("pattern")]
            names = node.get("patternProperties") if pattern_names else None
            if isinstance(names, dict):
                patterns += list(names)
            for pattern in patterns:
                if isinstance(pattern, str) and pattern not in checked:
                    if not conforms(pattern, "regex"):
                        return False
                    checked.add(pattern)
    return True


@functools.cache
def oas31_meta_fast() -> Any:
    """jsonschema-rs's "valid?" for the OpenAPI 3.1 base dialect (JSON Schema 2020-12 plus the
    OpenAPI vocabulary, as openapi-schema-validator ships them), or None where it cannot be
    built."""
    if jsonschema_rs is None or not fast_paths.enabled("meta-check"):
        return None
    try:
        from openapi_schema_validator._specifications import REGISTRY

        # their one pattern, `^x-`, reads the same in Python's `re` (the reference) and in Rust
        vocabulary, dialect = (
            dict(REGISTRY.contents("https://spec.openapis.org/oas/3.1/meta/base")),
            dict(OAS31Validator.META_SCHEMA),
        )
        registry = jsonschema_rs.Registry(
            [(vocabulary["$id"], vocabulary), (dialect["$id"], dialect)]
        )
        return jsonschema_rs.validator_for(
            dialect, registry=registry, validate_formats=False
        ).is_valid
    except Exception:  # another openapi-schema-validator: the reference check answers alone
        return None


def oas31_meta_valid(schema: Any) -> bool:
    """True only when openapi-spec-validator's meta-check of an OpenAPI 3.1 schema in the base
    dialect finds nothing: the Rust validator checks the structure, and every `pattern` and
    `patternProperties` name (the places the dialect gives the `regex` format, the only format of
    its meta-schema the reference checks) must be a valid regex. A schema naming its own `$schema`
    is left to the reference check. False means "ask the reference check", never "invalid"."""
    if not fast_paths.enabled("meta-check"):
        return False
    fast = oas31_meta_fast()
    if fast is None or (isinstance(schema, dict) and "$schema" in schema) or not fast(schema):
        return False
    return _all_patterns_conform(schema, oas31_format_checker.conforms, pattern_names=True)
