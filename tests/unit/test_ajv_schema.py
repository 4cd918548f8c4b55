"""OpenAPI schemas converted for Postman's Ajv 6 (draft-07), and examples that satisfy `pattern`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kpn_collections import Settings, convert_file
from kpn_collections.build.ajv_schema import SchemaStore, _definition_refs
from kpn_collections.build.contract_tests import CONTRACT_SCHEMAS
from kpn_collections.build.patterns import matching_string
from kpn_collections.model import SpecVersion
from kpn_collections.refs.resolve import RefResolver

from ..conftest import FIXTURES, corpus_specs, require_corpus
from ..helpers import iter_requests


def convert(
    schema: Any,
    version: SpecVersion = SpecVersion.OPENAPI_3_0,
    components: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    document = {"components": {"schemas": components or {}}, "definitions": components or {}}
    store = SchemaStore(RefResolver(document), version)
    return store.convert(schema), store.definitions


def test_nullable_becomes_a_type_union_in_3_0_and_2_0_only() -> None:
    assert convert({"type": "string", "nullable": True})[0] == {"type": ["string", "null"]}
    assert convert({"type": "string", "enum": ["a"], "nullable": True})[0] == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert convert({"type": "integer", "x-nullable": True}, SpecVersion.SWAGGER_2_0)[0] == {
        "type": ["integer", "null"]
    }
    assert convert({"type": ["string", "null"]}, SpecVersion.OPENAPI_3_1)[0] == {
        "type": ["string", "null"]
    }
    assert convert({"type": "string", "nullable": True}, SpecVersion.OPENAPI_3_1)[0] == {
        "type": "string"
    }


def test_boolean_exclusive_bounds_become_numbers() -> None:
    assert convert({"type": "number", "minimum": 1, "exclusiveMinimum": True})[0] == {
        "type": "number",
        "exclusiveMinimum": 1,
    }
    assert convert({"type": "number", "maximum": 9, "exclusiveMaximum": False})[0] == {
        "type": "number",
        "maximum": 9,
    }
    assert convert({"type": "number", "exclusiveMinimum": 0}, SpecVersion.OPENAPI_3_1)[0] == {
        "type": "number",
        "exclusiveMinimum": 0,
    }


def test_formats() -> None:
    assert convert({"type": "integer", "format": "int32"})[0] == {
        "type": "integer",
        "minimum": -(2**31),
        "maximum": 2**31 - 1,
    }
    assert convert({"type": "integer", "format": "int32", "minimum": 5})[0]["minimum"] == 5
    assert convert({"type": "number", "format": "double"})[0] == {"type": "number"}
    assert convert({"type": "string", "format": "binary"})[0] == {"type": "string"}
    assert convert({"type": "string", "format": "date-time"})[0] == {
        "type": "string",
        "format": "date-time",
    }
    byte = convert({"type": "string", "format": "byte"})[0]
    assert "format" not in byte and byte["pattern"].startswith("^(?:[A-Za-z0-9+/]{4})*")


def test_openapi_only_keywords_are_dropped_and_invalid_values_left_out() -> None:
    converted, _ = convert(
        {
            "type": "object",
            "example": {"a": 1},
            "discriminator": {"propertyName": "a"},
            "xml": {"name": "x"},
            "x-extra": 1,
            "description": "d",
            "deprecated": True,
            "required": ["a", "a"],
            "properties": {"a": {"type": "strin", "required": True}},
            "allOf": [],
            "maxLength": -1,
        }
    )
    assert converted == {"type": "object", "required": ["a"], "properties": {"a": {}}}


def test_write_only_properties_are_not_expected_in_responses() -> None:
    converted, _ = convert(
        {
            "type": "object",
            "required": ["id", "password"],
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "password": {"$ref": "#/components/schemas/Secret"},
            },
        },
        components={"Secret": {"type": "string", "writeOnly": True}},
    )
    assert converted == {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}},
    }


def test_refs_become_shared_definitions_and_recursion_stays_finite() -> None:
    components = {
        "Node": {
            "type": "object",
            "properties": {
                "next": {"$ref": "#/components/schemas/Node"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Leaf"}},
            },
        },
        "Leaf": {"type": "string", "nullable": True},
    }
    document = {"components": {"schemas": components}}
    store = SchemaStore(RefResolver(document), SpecVersion.OPENAPI_3_0)
    converted = store.convert(
        {"$ref": "#/components/schemas/Node", "description": "ignored sibling in 3.0"}
    )
    assert converted == {"$ref": "#/definitions/Node"}
    assert store.definitions["Node"]["properties"]["next"] == {"$ref": "#/definitions/Node"}
    assert store.definitions["Leaf"] == {"type": ["string", "null"]}
    assert store.closure(converted) == ["Leaf", "Node"]
    root = {"definitions": store.definitions, "allOf": [converted]}
    jsonschema.Draft7Validator.check_schema(root)
    validator = jsonschema.Draft7Validator(root)
    assert validator.is_valid({"next": {"next": {}, "items": ["a", None]}})
    assert not validator.is_valid({"next": {"next": {"items": [1]}}})


def test_3_1_keywords() -> None:
    converted, _ = convert(
        {"$ref": "#/components/schemas/A", "maxLength": 3},
        SpecVersion.OPENAPI_3_1,
        {"A": {"type": "string"}},
    )
    assert converted == {"allOf": [{"$ref": "#/definitions/A"}, {"maxLength": 3}]}
    converted, _ = convert(
        {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
        SpecVersion.OPENAPI_3_1,
    )
    assert converted == {
        "type": "array",
        "items": [{"type": "string"}],
        "additionalItems": {"type": "integer"},
    }
    converted, _ = convert(
        {"type": "object", "dependentRequired": {"a": ["b"]}}, SpecVersion.OPENAPI_3_1
    )
    assert converted == {"type": "object", "dependencies": {"a": ["b"]}}
    assert convert(True, SpecVersion.OPENAPI_3_1)[0] is True


def test_every_corpus_definition_is_a_valid_draft_07_schema() -> None:
    require_corpus()
    for spec in corpus_specs():
        collection = convert_file(spec, Settings()).collection
        assert collection is not None
        shared = next(
            (v["value"] for v in collection["variable"] if v["key"] == CONTRACT_SCHEMAS), "{}"
        )
        definitions = json.loads(shared)
        jsonschema.Draft7Validator.check_schema({"definitions": definitions})
        for item in iter_requests(collection["item"]):
            for event in item.get("event", []):
                text = "\n".join(event["script"]["exec"])
                if "var kpnResponses = [" in text:
                    responses = json.loads(
                        text.split("var kpnResponses = ", 1)[1].split(";\nvar kpnCode", 1)[0]
                    )
                    for response in responses:
                        for media in response["content"]:
                            if "schema" in media:
                                assert set(media["definitions"]) <= set(definitions), spec.name
                                jsonschema.Draft7Validator.check_schema(media["schema"])


@pytest.mark.parametrize(
    ("pattern", "preferred", "low", "high", "expected"),
    [
        ("[A-Z0-9]{1,4}", "stri", 4, 4, "AAAA"),  # kpn-wholesale-wba's X-Originator
        ("^[1-9][0-9]{3}[A-Z]{2}$", "string", 0, None, "1000AA"),  # a Dutch zip code
        ("^(foo|bar)-\\d{3}$", "string", 0, None, "foo-000"),
        ("^[^a]+$", "string", 0, None, "string"),
        ("^a+$", "string", 3, 5, "aaa"),
        (
            "(a)\\1",
            "string",
            0,
            None,
            None,
        ),  # back references are beyond it: the caller keeps its value
        ("[", "string", 0, None, None),
        # patterns mean what ECMA-262 says: `\\d` is ASCII, `\\p{L}` a Unicode property
        ("^\\d$", "\u0661", 0, None, "0"),
        ("^\\p{L}+$", "string", 0, None, "string"),
        ("^[a-z]+$", "abc\n", 0, None, "a"),
    ],
)
def test_pattern_examples(
    pattern: str, preferred: str, low: int, high: int | None, expected: str | None
) -> None:
    assert matching_string(pattern, preferred, low, high) == expected


def test_big_inline_schemas_repeated_by_many_responses_are_shared_once() -> None:
    from kpn_collections.pipeline import convert_document

    big = {
        "type": "object",
        "properties": {f"field{i}": {"type": "string", "maxLength": 10} for i in range(20)},
    }
    small = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    responses = {
        "200": {"description": "OK", "content": {"application/json": {"schema": big}}},
        "201": {"description": "Small", "content": {"application/json": {"schema": small}}},
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "servers": [{"url": "https://x"}],
        "paths": {
            "/a": {"get": {"operationId": "getA", "responses": responses}},
            "/b": {"get": {"operationId": "getB", "responses": responses}},
        },
    }
    collection = convert_document(document).collection
    assert collection is not None
    shared = json.loads(
        next(v["value"] for v in collection["variable"] if v["key"] == CONTRACT_SCHEMAS)
    )
    assert list(shared) == ["getA_200"]  # stored once, named after its first use
    scripts = [
        "\n".join(e["script"]["exec"])
        for item in iter_requests(collection["item"])
        for e in item["event"]
        if item["name"] != "Get Access Token"
    ]
    assert len(scripts) == 2 and all(
        '"$ref": "#/definitions/getA_200"' in s and '"ok"' in s for s in scripts
    )


def test_review_findings_stay_fixed() -> None:
    """Odd but possible input gives valid draft-07 (Ajv 6 would refuse to compile anything else)."""
    v31 = SpecVersion.OPENAPI_3_1
    _, definitions = convert(
        {"$ref": "#/components/schemas/A"},
        v31,
        {"A": {"$ref": "#/components/schemas/B", "maxLength": 3}, "B": {"type": "string"}},
    )
    assert definitions["A"] == {"allOf": [{"$ref": "#/definitions/B"}, {"maxLength": 3}]}
    converted, _ = convert(
        {
            "type": "object",
            "required": ["a"],
            "properties": {"a": {"$ref": "#/components/schemas/P", "writeOnly": True}},
        },
        v31,
        {"P": {"type": "string"}},
    )
    assert converted == {"type": "object", "properties": {}}
    for schema in (
        {"type": "array", "prefixItems": []},
        {"type": "array", "items": []},
        {"dependentRequired": {"a": ["b", "b"], "c": [1]}},
        {
            "type": "number",
            "maximum": float("inf"),
            "enum": [1.0, float("nan")],
            "const": float("inf"),
        },
        {"enum": [{"$ref": "#/definitions/Nothing"}]},
    ):
        converted, definitions = convert(schema, v31)
        jsonschema.Draft7Validator.check_schema({"definitions": definitions, "allOf": [converted]})
        json.dumps(converted, allow_nan=False)
    store = SchemaStore(RefResolver({}), v31)
    assert store.closure(store.convert({"enum": [{"$ref": "#/definitions/Nothing"}]})) == []


def test_scripts_take_the_whole_closure_of_the_definitions_they_name(tmp_path: Path) -> None:
    """Schemas name the definitions they use directly; `kpnContract.definitions` (the collection's
    test script) adds the rest at run time. For every response of the KPN corpus (and the fixtures),
    node computes the Python closure."""
    if shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed")
        pytest.skip("node is not installed")
    cases = []
    machinery = ""
    for spec in [*sorted(FIXTURES.glob("*/*/input.*")), *corpus_specs()]:
        result = convert_file(spec, Settings())
        if result.collection is None:
            continue
        variables = {v["key"]: v["value"] for v in result.collection["variable"]}
        shared_text = variables.get(CONTRACT_SCHEMAS) or "{}"
        machinery = machinery or "\n".join(
            next(
                e["script"]["exec"]
                for e in result.collection.get("event", [])
                if e["listen"] == "test"
            )
        )
        for item in iter_requests(result.collection["item"]):
            script = "\n".join(
                next(
                    (e["script"]["exec"] for e in item.get("event", []) if e["listen"] == "test"),
                    [],
                )
            )
            if "kpnContract({" not in script:
                continue
            data = script[script.index("responses: ") + len("responses: ") : script.rindex("});")]
            for response in json.loads(data).values():
                for schema in (response.get("content") or {}).values():
                    if schema is not None and _definition_refs(schema):
                        expected = _python_closure(
                            json.loads(shared_text), list(_definition_refs(schema))
                        )
                        cases.append(
                            {"shared": shared_text, "schema": schema, "expected": expected}
                        )
    assert len(cases) > 100 and machinery
    program = tmp_path / "closure.js"
    program.write_text(
        "var shared = '{}';\nvar pm = {collectionVariables: {get: function () { return shared;"
        " }}};\n"
        + machinery
        + "\nconst cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "process.stdout.write(JSON.stringify(cases.map(c => { shared = c.shared; "
        "return Object.keys(kpnContract.definitions(c.schema)).sort(); })));\n",
        encoding="utf-8",
    )
    completed = subprocess.run(
        ["node", str(program)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert json.loads(completed.stdout) == [sorted(c["expected"]) for c in cases]


def _python_closure(shared: dict[str, Any], names: list[str]) -> list[str]:
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in shared and name not in found:
            found.add(name)
            pending.extend(_definition_refs(shared[name]))
    return sorted(found)


ADDRESS = {
    "type": "object",
    "required": ["street", "city"],
    "properties": {
        "street": {"type": "string", "minLength": 1},
        "city": {"type": "string"},
        "zip": {"type": "string"},
    },
}


def test_repeated_subschemas_are_stored_once_and_validate_as_before() -> None:
    """Big APIs repeat inline schemas: each repeat becomes a `$ref` to one definition, which
    validates the same."""
    person = {
        "type": "object",
        "properties": {"home": ADDRESS, "work": ADDRESS, "tags": {"enum": [ADDRESS]}},
    }
    order = {"type": "array", "items": {"type": "object", "properties": {"shipTo": ADDRESS}}}
    store = SchemaStore(RefResolver({}), SpecVersion.OPENAPI_3_0)
    roots = [
        (store.convert(person), "getPerson_200"),
        (store.convert(order), "listOrders_200"),
        (store.convert(order), "listOrders_200"),
    ]
    originals = [root for root, _ in roots]
    folded = store.fold(roots)
    assert list(store.definitions) == [
        "home",
        "listOrders_200",
    ]  # the repeated root too, by its first name
    assert store.definitions["home"] == ADDRESS
    assert (
        folded[0]["properties"]["home"]
        == folded[0]["properties"]["work"]
        == {"$ref": "#/definitions/home"}
    )
    assert folded[0]["properties"]["tags"] == {"enum": [ADDRESS]}  # literal data is never a schema
    assert folded[1] == folded[2] == {"$ref": "#/definitions/listOrders_200"}
    assert store.definitions["listOrders_200"]["items"]["properties"]["shipTo"] == {
        "$ref": "#/definitions/home"
    }
    # the converted schemas themselves are left alone
    assert originals[0]["properties"]["home"] == ADDRESS
    good = {
        "home": {"street": "Main", "city": "X"},
        "tags": [{"street": "Main", "city": "X", "zip": "1"}],
    }
    bad = {"home": {"street": "", "city": 1}, "work": {"city": "X"}}
    for original, schema in zip(originals, folded, strict=False):
        for data in (good, bad, [{"shipTo": {"street": "a"}}], [{"shipTo": good["home"]}]):
            errors = list(
                jsonschema.Draft7Validator(
                    {"definitions": store.definitions, **schema}
                ).iter_errors(data)
            )
            assert bool(errors) == bool(
                list(jsonschema.Draft7Validator(original).iter_errors(data))
            )


def test_a_repeat_equal_to_a_named_definition_refers_to_it_and_small_ones_stay() -> None:
    store = SchemaStore(
        RefResolver({"components": {"schemas": {"Address": ADDRESS}}}), SpecVersion.OPENAPI_3_0
    )
    named = store.convert({"$ref": "#/components/schemas/Address"})
    inline = store.convert(
        {
            "type": "object",
            "properties": {"a": ADDRESS, "n": {"type": "integer"}, "m": {"type": "integer"}},
        }
    )
    folded = store.fold([(named, "a"), (inline, "b")])
    assert folded[0] == named and folded[1]["properties"]["a"] == {"$ref": "#/definitions/Address"}
    assert folded[1]["properties"]["n"] == {"type": "integer"}  # shorter than a reference is worth
    assert list(store.definitions) == ["Address"]
