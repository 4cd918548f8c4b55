"""Issue 21: conversion warns where `oneOf` branches cannot be told apart (a value valid for two
fails `oneOf`), and stays quiet on the forms that tell them apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kpn_collections import Settings, convert_document, convert_file
from kpn_collections.diagnostics import Diagnostic

from ..conftest import require_corpus
from ..e2e.test_token_flow import run_against_gateway
from ..support.gateway import Gateway
from ..support.newman import require_newman

CODE = "oneof-indistinguishable"


def api(
    schemas: dict[str, Any], response: Any = None, request: Any = None, paths: int = 1
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "responses": {
            "200": {
                "description": "ok",
                "content": {
                    "application/json": {
                        "schema": (
                            response
                            if response is not None
                            else {"$ref": "#/components/schemas/Pet"}
                        )
                    }
                },
            }
        }
    }
    if request is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": request}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "servers": [{"url": "https://api.test"}],
        "paths": {f"/pets{n}": {"post": operation} for n in range(paths)},
        "components": {"schemas": schemas},
    }


def warnings(document: dict[str, Any]) -> list[Diagnostic]:
    result = convert_document(document, Settings())
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    return [d for d in result.diagnostics if d.code == CODE]


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = list(required)
    return schema


STRING = {"type": "string"}
PET = {"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]}


def test_branches_a_value_matches_together_are_a_located_warning(tmp_path: Path) -> None:
    document = api(
        {"Pet": PET, "Cat": obj({"name": STRING, "purrs": STRING}), "Dog": obj({"name": STRING})},
        paths=3,
    )
    spec = tmp_path / "pets.json"
    text = json.dumps(document, indent=1)
    spec.write_text(text, encoding="utf-8")
    result = convert_file(spec, Settings())
    (warning,) = [
        d for d in result.diagnostics if d.code == CODE
    ]  # one oneOf, used three times: reported once
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith('"oneOf"'))
    assert (warning.pointer, warning.line) == ("/components/schemas/Pet/oneOf", line)
    assert warning.message.startswith(
        "`oneOf` branches 1 (`Cat`) and 2 (`Dog`) cannot be told apart: "
        '{"name":"string","purrs":"string"} is valid for both'
    )
    assert "the contract test fails on such a response" in warning.message
    assert "anyOf" in warning.hint and "additionalProperties: false" in warning.hint


@pytest.mark.parametrize(
    "branches",
    [
        [{"type": "integer"}, {"type": "number"}],
        [{"type": "string", "format": "uuid"}, STRING],
        [obj({"a": STRING}), obj({"b": STRING})],  # nothing required, nothing forbidden
        [{"$ref": "#/components/schemas/Cat"}, obj({"a": STRING}, ("a",))],  # the same shape twice
    ],
    ids=["integer-number", "uuid-string", "optional-properties", "same-shape"],
)
def test_overlapping_branches_are_warned(branches: list[Any]) -> None:
    document = api(
        {"Cat": obj({"a": STRING}, ("a",))}, response=obj({"inner": {"oneOf": branches}})
    )
    (warning,) = warnings(document)
    schema = "/paths/~1pets0/post/responses/200/content/application~1json/schema"
    assert warning.pointer == schema + "/properties/inner/oneOf"


@pytest.mark.parametrize(
    "branches",
    [
        [
            obj({"petType": {"type": "string", "enum": ["cat"]}, "name": STRING}, ("petType",)),
            obj({"petType": {"type": "string", "enum": ["dog"]}, "name": STRING}, ("petType",)),
        ],
        [obj({"kind": {"const": "a"}}, ("kind",)), obj({"kind": {"const": "b"}}, ("kind",))],
        [
            obj({"a": STRING}, ("a",), additionalProperties=False),
            obj({"b": STRING}, ("b",), additionalProperties=False),
        ],
        [
            obj({"a": STRING}, ("a",)),
            obj({"b": STRING}, ("b",)),
        ],  # each requires what the other's example lacks
        [{"type": "null"}, obj({"a": STRING})],
        [STRING, {"type": "integer"}],
        [{"type": "string", "format": "date"}, {"type": "string", "format": "email"}],
        [{"required": ["a"]}, {"required": ["b"]}],  # "exactly one of a and b" is what is meant
    ],
    ids=["enum", "const", "closed", "required", "nullable", "types", "formats", "exactly-one-of"],
)
def test_branches_that_a_value_cannot_match_together_are_not_warned(branches: list[Any]) -> None:
    response = obj({"a": STRING, "b": STRING}, oneOf=branches)
    assert warnings(api({}, response=response)) == []


def test_the_discriminated_petstore_form_is_not_warned() -> None:
    pet = obj({"name": STRING, "petType": STRING}, ("name", "petType"))
    document = api(
        {
            "Pet": {**PET, "discriminator": {"propertyName": "petType"}},
            "Base": pet,
            "Cat": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    obj({"huntingSkill": STRING}, ("huntingSkill",)),
                ]
            },
            "Dog": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    obj({"packSize": {"type": "integer"}}, ("packSize",)),
                ]
            },
        }
    )
    assert warnings(document) == []


def test_a_request_body_says_what_a_server_does_with_it() -> None:
    document = api(
        {"Cat": obj({"name": STRING}), "Dog": obj({"name": STRING})}, response=STRING, request=PET
    )
    (warning,) = warnings(document)
    assert (
        warning.pointer == "/paths/~1pets0/post/requestBody/content/application~1json/schema/oneOf"
    )
    assert warning.message.endswith(
        "so a server or mock that checks the schema rejects such a request"
    )


def test_the_warning_is_what_newman_finds() -> None:
    """The gateway answers {"ok": true, "method": ..., "path": ...}: valid for both branches of the
    warned oneOf, which fails its contract test; valid for one branch of the told-apart oneOf, which
    passes; valid for no branch of the last one, which fails, as it should, without a warning."""
    require_newman()
    told_apart = {
        "oneOf": [obj({"ok": {"type": "boolean"}}, ("ok",)), obj({"error": STRING}, ("error",))]
    }
    alike = {"oneOf": [obj({"ok": {"type": "boolean"}}), obj({"path": STRING})]}
    neither = {"oneOf": [obj({"x": {"type": "integer"}}, ("x",)), obj({"y": STRING}, ("y",))]}
    document = api({}, paths=0)
    for name, schema in (("alike", alike), ("apart", told_apart), ("neither", neither)):
        document["paths"][f"/{name}"] = {
            "get": {
                "summary": name,
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": schema}},
                    }
                },
            }
        }
    result = convert_document(document, Settings())
    assert result.collection is not None
    assert [d.pointer for d in result.diagnostics if d.code == CODE] == [
        "/paths/~1alike/get/responses/200/content/application~1json/schema/oneOf"
    ]
    with Gateway() as gateway:
        run = run_against_gateway(result.collection, gateway)
    failed = {item: message for item, _, message in run.failed_assertions()}
    assert failed == {  # the message says which branches matched, or that none did
        "alike": "body should match exactly one oneOf branch, matches 1 (object) and 2 (object)",
        "neither": (
            "body.x is missing (required), in branch 1\nbody.y is missing (required), in branch 2\n"
            "body should match exactly one oneOf branch, matches none of 1 (object), 2 (object)"
        ),
    }, run.describe()


def test_a_discriminator_that_does_not_tell_the_branches_apart_is_named() -> None:
    pet = obj({"petType": STRING}, ("petType",))
    document = api(
        {
            "Pet": {**PET, "discriminator": {"propertyName": "petType"}},
            "Cat": {"allOf": [pet, obj({"hunts": {"type": "boolean"}})]},
            "Dog": {"allOf": [pet, obj({"barks": {"type": "boolean"}})]},
        }
    )
    (warning,) = warnings(document)
    assert warning.message.endswith(
        "the contract test fails on such a response; the `discriminator` on `petType` "
        "does not tell them apart, as JSON Schema validators (Postman's, Prism's) do "
        "not read it"
    )
    assert (
        warning.hint
        == "give each branch's `petType` an `enum` (or `const`) with its own value, or use `anyOf`"
    )


def test_the_kpn_corpus_tells_its_one_of_branches_apart() -> None:
    """Three KPN exports have `oneOf`s (nullable objects, Vonage's message types told apart by
    enums): none is warned."""
    specs = [p for p in require_corpus() if "oneOf" in p.read_text(encoding="utf-8")]
    assert len(specs) >= 3
    for spec in specs:
        result = convert_file(spec, Settings())
        assert [d.format() for d in result.diagnostics if d.code == CODE] == []


def test_a_parameter_schema_is_checked_too() -> None:
    document = api({}, response=STRING)
    document["paths"]["/pets0"]["post"]["parameters"] = [
        {
            "name": "size",
            "in": "query",
            "schema": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        }
    ]
    (warning,) = warnings(document)
    assert warning.pointer == "/paths/~1pets0/post/parameters/0/schema/oneOf"
    assert warning.message.startswith(
        "`oneOf` branches 1 and 2 cannot be told apart: 0 is valid for both"
    )
