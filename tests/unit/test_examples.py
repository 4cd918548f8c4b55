"""Example values generated from schemas, and the `$ref` resolver they follow."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import pytest

from kpn_collections.build.examples import ExampleGenerator
from kpn_collections.diagnostics import Diagnostics, Severity
from kpn_collections.refs.resolve import RefResolver, check_references

SCHEMAS: dict[str, Any] = {
    "Pet": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "format": "int64", "readOnly": True},
            "name": {"type": "string"},
            "password": {"type": "string", "writeOnly": True},
        },
    },
    "ReadOnlyId": {"type": "string", "readOnly": True},
    "WithExample": {"type": "object", "example": {"tags": ["a", "b"]}},
    "TreeNode": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/TreeNode"}},
        },
    },
    "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
    "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
    "Self": {"$ref": "#/components/schemas/Self"},
    "Loop1": {"$ref": "#/components/schemas/Loop2"},
    "Loop2": {"$ref": "#/components/schemas/Loop1"},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "components": {
        "schemas": SCHEMAS,
        "parameters": {
            "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 5}},
        },
    },
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def example(
    schema: Any, *, for_request: bool = False, document: dict[str, Any] | None = None
) -> Any:
    return ExampleGenerator(RefResolver(document or DOCUMENT)).example(
        schema, for_request=for_request
    )


# --- the spec's own values
# ---------------------------------------------------------------------------------


def test_example_wins() -> None:
    schema = {
        "type": "integer",
        "example": 8,
        "examples": [9],
        "default": 7,
        "const": 6,
        "enum": [5],
    }
    assert example(schema) == 8


def test_examples_list() -> None:
    assert example({"type": "integer", "examples": [9, 10], "default": 7, "enum": [5]}) == 9


def test_default() -> None:
    assert example({"type": "integer", "default": 7, "const": 6, "enum": [5]}) == 7


def test_const() -> None:
    assert example({"const": "fixed", "enum": ["other"]}) == "fixed"


def test_enum_first_non_null() -> None:
    assert example({"type": "string", "nullable": True, "enum": [None, "a", "b"]}) == "a"
    assert example({"enum": [None]}) is None


def test_falsy_example() -> None:
    assert example({"type": "integer", "example": 0, "default": 5}) == 0
    assert example({"type": "boolean", "default": False}) is False


def test_example_deep_copy() -> None:
    document = copy.deepcopy(DOCUMENT)
    value = example(ref("WithExample"), document=document)
    assert value == {"tags": ["a", "b"]}
    value["tags"].append("c")
    value["new"] = 1
    assert document["components"]["schemas"]["WithExample"]["example"] == {"tags": ["a", "b"]}


def test_default_deep_copy() -> None:
    schema: dict[str, Any] = {"type": "array", "default": [{"k": 1}]}
    value = example(schema)
    value[0]["k"] = 2
    assert schema["default"] == [{"k": 1}]


# --- references
# --------------------------------------------------------------------------------------------


def test_ref_followed() -> None:
    assert example(ref("WithExample")) == {"tags": ["a", "b"]}


def test_broken_ref() -> None:
    assert example(ref("Missing")) == {}
    assert example({"type": "object", "properties": {"x": ref("Missing")}}) == {"x": {}}


def test_parameter_ref() -> None:
    assert example({"$ref": "#/components/parameters/Limit"}) == 5


# --- composition
# -------------------------------------------------------------------------------------------


def test_all_of_merges() -> None:
    schema = {"allOf": [ref("Pet"), {"type": "object", "properties": {"tag": {"type": "string"}}}]}
    assert example(schema) == {"id": 0, "name": "string", "tag": "string"}


def test_all_of_inline_properties() -> None:
    schema = {"allOf": [ref("Pet")], "properties": {"tag": {"type": "string"}}}
    assert example(schema, for_request=True) == {
        "name": "string",
        "password": "string",
        "tag": "string",
    }


def test_one_of_first_non_null() -> None:
    assert example({"oneOf": [{"type": "null"}, {"type": "integer"}, {"type": "string"}]}) == 0


def test_any_of_first() -> None:
    assert example({"anyOf": [{"type": "string"}, {"type": "integer"}]}) == "string"


def test_one_of_ref() -> None:
    assert example({"oneOf": [ref("Pet"), {"type": "integer"}]}) == {"id": 0, "name": "string"}


# --- readOnly / writeOnly
# ----------------------------------------------------------------------------------


def test_read_only_request() -> None:
    assert example(ref("Pet"), for_request=True) == {"name": "string", "password": "string"}


def test_read_only_response() -> None:
    assert example(ref("Pet"), for_request=False) == {"id": 0, "name": "string"}


def test_read_only_via_ref() -> None:
    schema = {"type": "object", "properties": {"id": ref("ReadOnlyId"), "x": {"type": "string"}}}
    assert example(schema, for_request=True) == {"x": "string"}
    assert example(schema, for_request=False) == {"id": "string", "x": "string"}


# --- formats and types
# -------------------------------------------------------------------------------------


def test_date_time() -> None:
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", example({"type": "string", "format": "date-time"})
    )


def test_date() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", example({"type": "string", "format": "date"}))


def test_email() -> None:
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", example({"type": "string", "format": "email"}))


def test_uuid() -> None:
    value = example({"type": "string", "format": "uuid"})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)


def test_uri() -> None:
    assert example({"type": "string", "format": "uri"}).startswith("https://")


def test_ipv4() -> None:
    parts = example({"type": "string", "format": "ipv4"}).split(".")
    assert len(parts) == 4
    assert all(0 <= int(p) <= 255 for p in parts)


def test_byte() -> None:
    value = example({"type": "string", "format": "byte"})
    assert value
    assert base64.b64encode(base64.b64decode(value, validate=True)).decode() == value


def test_binary() -> None:
    assert isinstance(example({"type": "string", "format": "binary"}), str)


def test_integer_formats() -> None:
    for fmt in ("int32", "int64"):
        value = example({"type": "integer", "format": fmt})
        assert type(value) is int


def test_double() -> None:
    value = example({"type": "number", "format": "double"})
    assert isinstance(value, (int, float))
    assert not isinstance(value, bool)


def test_boolean_and_null() -> None:
    assert example({"type": "boolean"}) is True
    assert example({"type": "null"}) is None


def test_type_array() -> None:
    assert isinstance(example({"type": ["string", "null"]}), str)
    assert isinstance(example({"type": ["null", "string"]}), str)
    assert example({"type": ["null"]}) is None


def test_min_length() -> None:
    value = example({"type": "string", "minLength": 20})
    assert len(value) >= 20


def test_max_length() -> None:
    value = example({"type": "string", "maxLength": 3})
    assert 0 < len(value) <= 3


def test_min_max_length() -> None:
    assert 7 <= len(example({"type": "string", "minLength": 7, "maxLength": 8})) <= 8


def test_password_min_length() -> None:
    assert len(example({"type": "string", "format": "password", "minLength": 8})) >= 8


def test_minimum() -> None:
    assert example({"type": "integer", "minimum": 5}) == 5
    assert example({"type": "number", "minimum": 2.5}) == 2.5


def test_exclusive_minimum_30() -> None:
    value = example({"type": "integer", "minimum": 5, "exclusiveMinimum": True})
    assert value > 5
    assert example({"type": "integer", "minimum": 5, "exclusiveMinimum": False}) >= 5


def test_exclusive_minimum_31() -> None:
    assert example({"type": "integer", "exclusiveMinimum": 5}) > 5
    assert example({"type": "number", "exclusiveMinimum": 0.5}) > 0.5


def test_negative_maximum() -> None:
    assert example({"type": "integer", "maximum": -3}) <= -3
    assert example({"type": "integer", "maximum": -3, "exclusiveMaximum": True}) < -3


def test_exclusive_maximum_31() -> None:
    assert example({"type": "integer", "exclusiveMaximum": -3}) < -3
    assert example({"type": "number", "exclusiveMaximum": 0}) < 0


def test_exclusive_minimum_with_maximum() -> None:
    value = example({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 0.5})
    assert 0 < value <= 0.5


def test_multiple_of() -> None:
    value = example({"type": "integer", "minimum": 7, "multipleOf": 5})
    assert value >= 7
    assert value % 5 == 0
    assert example({"type": "integer", "multipleOf": 3}) % 3 == 0


def test_multiple_of_decimal() -> None:
    assert example({"type": "number", "minimum": 0.25, "multipleOf": 0.1}) == 0.3


def test_array_one_item() -> None:
    assert example({"type": "array", "items": {"type": "integer"}}) == [0]
    assert example({"type": "array", "items": {"type": "integer"}, "minItems": 0}) == [0]


def test_array_min_items() -> None:
    assert example({"type": "array", "items": {"type": "integer"}, "minItems": 2}) == [0, 0]
    assert len(example({"type": "array", "items": {"type": "integer"}, "minItems": 50})) == 3


def test_array_unique_items() -> None:
    value = example(
        {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True}
    )
    assert len(value) >= 2
    assert len(set(value)) == len(value)


def test_array_items_independent() -> None:
    value = example(
        {
            "type": "array",
            "items": {"type": "object", "properties": {"a": {"type": "string"}}},
            "minItems": 2,
        }
    )
    value[0]["a"] = "changed"
    assert value[1]["a"] == "string"


def test_untyped() -> None:
    assert example({}) == {}
    assert example({"properties": {"a": {"type": "boolean"}}}) == {"a": True}
    assert example({"items": {"type": "boolean"}}) == [True]


# --- recursion and determinism
# -----------------------------------------------------------------------------


def test_tree_node() -> None:
    assert example(ref("TreeNode")) == {"name": "string", "children": []}


def test_mutual_recursion() -> None:
    value = example(ref("A"))
    assert isinstance(value, dict)
    assert isinstance(value["b"], dict)
    assert repr(value).count("{") < 10


def test_self_ref_chain() -> None:
    assert example(ref("Self")) == {}
    assert example(ref("Loop1")) == {}


def test_deep_nesting_stops() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(50):
        schema = {"type": "object", "properties": {"n": schema}}
    value = example(schema)
    depth = 0
    while isinstance(value, dict) and "n" in value:
        value = value["n"]
        depth += 1
    assert 0 < depth < 50


def test_deterministic() -> None:
    schema = {
        "allOf": [ref("Pet"), ref("TreeNode")],
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        },
    }
    first = example(schema)
    assert first == example(schema)
    assert first == ExampleGenerator(RefResolver(DOCUMENT)).example(schema, for_request=False)


# --- RefResolver and check_references
# ----------------------------------------------------------------------

REF_DOCUMENT: dict[str, Any] = {
    "paths": {"/pets/{id}": {"get": {"operationId": "getPet"}}},
    "components": {
        "schemas": {
            "a~b": {"type": "string"},
            "a/b": {"type": "integer"},
            "My Schema": {"type": "boolean"},
            "List": [10, 20],
        },
    },
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("#/components/schemas/a~0b", {"type": "string"}),
        ("#/components/schemas/a~1b", {"type": "integer"}),
        ("#/paths/~1pets~1{id}/get", {"operationId": "getPet"}),
        ("#/paths/~1pets~1%7Bid%7D/get", {"operationId": "getPet"}),
        ("#/components/schemas/My%20Schema", {"type": "boolean"}),
        ("#/components/schemas/List/1", 20),
    ],
)
def test_lookup(pointer: str, expected: Any) -> None:
    assert RefResolver(REF_DOCUMENT).lookup(pointer) == (True, expected)


def test_lookup_root() -> None:
    assert RefResolver(REF_DOCUMENT).lookup("#") == (True, REF_DOCUMENT)


@pytest.mark.parametrize(
    "pointer", ["#/nope", "#/components/schemas/List/5", "#/components/schemas/a~1c"]
)
def test_lookup_missing(pointer: str) -> None:
    resolver = RefResolver(REF_DOCUMENT)
    assert resolver.lookup(pointer) == (False, None)
    assert resolver.broken[pointer] == "missing"


def test_deref_cycle() -> None:
    assert RefResolver(DOCUMENT).deref(ref("Loop1")) is None
    assert RefResolver(DOCUMENT).deref(ref("Pet")) is SCHEMAS["Pet"]


def check(document: dict[str, Any]) -> Diagnostics:
    diagnostics = Diagnostics(file="spec.yaml")
    check_references(document, RefResolver(document), diagnostics)
    return diagnostics


def test_dangling_ref() -> None:
    document = {"components": {"schemas": {"Pet": {"properties": {"owner": ref("Owner")}}}}}
    [d] = check(document).items
    assert d.severity is Severity.WARNING
    assert d.code == "dangling-ref"
    assert d.pointer == "/components/schemas/Pet/properties/owner/$ref"
    assert d.file == "spec.yaml"


def test_ref_cycle_is_reported_once() -> None:
    document = {"components": {"schemas": {"A": ref("B"), "B": ref("A"), "C": {"items": ref("A")}}}}
    resolver = RefResolver(document)
    diagnostics = Diagnostics(file="spec.yaml")
    check_references(document, resolver, diagnostics)
    [d] = diagnostics.items
    assert (d.severity, d.code, d.pointer) == (
        Severity.WARNING,
        "ref-cycle",
        "/components/schemas/A/$ref",
    )
    assert (
        d.message == "`$ref` cycle of 2 reference(s) never reaches a definition: "
        "#/components/schemas/B -> #/components/schemas/A -> #/components/schemas/B"
    )
    assert resolver.cyclic == {"#/components/schemas/A", "#/components/schemas/B"}


def test_long_cycles_and_chains_are_one_warning_each() -> None:
    schemas: dict[str, Any] = {f"S{i}": ref(f"S{(i + 1) % 1000}") for i in range(1000)}
    schemas.update({f"T{i}": ref(f"T{i + 1}") for i in range(100)})
    schemas["T100"] = {"type": "string"}
    items = check({"components": {"schemas": schemas}}).items
    assert [(d.code, d.pointer) for d in items] == [
        ("ref-cycle", "/components/schemas/S0/$ref"),
        ("ref-chain-too-long", "/components/schemas/T0/$ref"),
    ]
    assert "cycle of 1000 reference(s)" in items[0].message


def test_ref_not_string() -> None:
    document = {"components": {"schemas": {"Bad": {"$ref": 5}}}}
    [d] = check(document).items
    assert d.severity is Severity.ERROR
    assert d.code == "ref-not-string"
    assert d.pointer == "/components/schemas/Bad/$ref"


def test_property_named_ref() -> None:
    document = {
        "components": {
            "schemas": {"Obj": {"type": "object", "properties": {"$ref": {"type": "string"}}}}
        }
    }
    assert check(document).items == []
    assert example(document["components"]["schemas"]["Obj"], document=document) == {
        "$ref": "string"
    }


def test_property_named_ref_checked() -> None:
    document = {"components": {"schemas": {"Obj": {"properties": {"$ref": ref("Missing")}}}}}
    [d] = check(document).items
    assert d.code == "dangling-ref"
    assert d.pointer == "/components/schemas/Obj/properties/$ref/$ref"


@pytest.mark.parametrize(
    "target", ["other.yaml#/components/schemas/X", "https://example.com/api.json"]
)
def test_external_refs_are_left_to_the_bundle_stage(target: str) -> None:
    # the bundle stage (tests/unit/test_refs.py) resolves or reports every external ref before this
    # check runs
    document = {"components": {"schemas": {"Ext": {"$ref": target}}}}
    assert check(document).items == []


def test_clean_refs() -> None:
    assert (
        check(
            DOCUMENT | {"components": {"schemas": {"Pet": SCHEMAS["Pet"], "P2": ref("Pet")}}}
        ).items
        == []
    )
