"""Every value a request sends is checked against its schema: invalid examples are warned about,
located, and repaired or generated anew; where no value can be valid, the converter says so
(example_check.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kpn_collections import convert_document, convert_file
from kpn_collections.build import example_check as example_check_module
from kpn_collections.diagnostics import Diagnostic

from ..conftest import FIXTURES
from ..helpers import iter_requests

EXAMPLES_FIXTURE = FIXTURES / "oas30" / "examples" / "input.yaml"


def requests_by_name(collection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in iter_requests(collection["item"])}


def warnings(diagnostics: tuple[Diagnostic, ...], code: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.code == code]


def test_invalid_examples_are_warned_about_where_they_are_and_repaired() -> None:
    result = convert_file(EXAMPLES_FIXTURE)
    assert result.collection is not None
    invalid = {d.pointer: d for d in warnings(result.diagnostics, "example-invalid")}
    assert sorted(invalid) == [
        # a schema's own example, used when generating
        "/components/schemas/Webhook/properties/retries/example",
        "/paths/~1webhooks/post/parameters/0/example",
        "/paths/~1webhooks/post/requestBody/content/application~1json/examples/complete/value",
        "/paths/~1webhooks/post/requestBody/content/application~1json/examples/minimal/value",
        "/paths/~1webhooks~1{webhookId}/put/parameters/0/schema/example",
    ]
    assert all(d.line is not None and d.file == str(EXAMPLES_FIXTURE) for d in invalid.values())
    assert (
        "'yaml' is not one of ['json', 'xml']"
        in invalid["/paths/~1webhooks/post/parameters/0/example"].message
    )
    requests = requests_by_name(result.collection)
    create = requests["Register a webhook"]
    query = {q["key"]: q["value"] for q in create["request"]["url"]["query"]}
    assert query == {
        "format": "json",
        "limit": "10",
    }  # an enum value; "10" is the text of a valid integer
    assert json.loads(create["request"]["body"]["raw"]) == {
        "name": "orders",
        "urls": ["https://example.com/hook"],
    }
    saved = {r["name"]: json.loads(r["originalRequest"]["body"]["raw"]) for r in create["response"]}
    complete = saved[
        "Registered — Without its name"
    ]  # the named example kept as a saved pair gets `name`
    assert complete["urls"] == ["https://example.com/hook"] and isinstance(complete["name"], str)
    replace = requests["Replace a webhook"]
    assert re.fullmatch(r"wh-[0-9]+", replace["request"]["url"]["variable"][0]["value"])
    assert isinstance(json.loads(replace["request"]["body"]["raw"])["retries"], int)


def test_no_valid_request_is_said_at_the_operation() -> None:
    result = convert_file(EXAMPLES_FIXTURE)
    [hopeless] = warnings(result.diagnostics, "no-valid-request")
    assert hopeless.pointer == "/paths/~1regions~1{region}/get"
    assert "no request to GET /regions/{region} can be valid" in hopeless.message
    [unused] = warnings(result.diagnostics, "unused-path-parameter")
    assert (
        unused.pointer == "/paths/~1webhooks~1/delete"
        and "no request can be valid" in unused.message
    )


def _api(operations: dict[str, Any], components: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": operations,
        "components": components or {},
    }


def _post(body: dict[str, Any], parameters: list[Any] | None = None) -> dict[str, Any]:
    return {
        "post": {
            "parameters": parameters or [],
            "requestBody": {"content": {"application/json": body}},
            "responses": {"204": {"description": "ok"}},
        }
    }


def test_valid_values_are_sent_as_they_are_without_a_warning() -> None:
    document = _api(
        {
            "/a": _post(
                {"schema": {"$ref": "#/components/schemas/Thing"}, "example": {"name": "x"}},
                [
                    {
                        "name": "code",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": 5,
                    },
                    {
                        "name": "on",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "boolean"},
                        "example": "true",
                    },
                ],
            ),
            "/b": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "required": ["n"],
                                    "properties": {"n": {"type": "integer"}},
                                },
                                "example": {"n": "3"},
                            }
                        }
                    },
                    "responses": {"204": {"description": "ok"}},
                }
            },
        },
        {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "string", "readOnly": True},
                        "name": {"type": "string"},
                    },
                }
            }
        },
    )
    result = convert_document(document)
    assert result.collection is not None
    assert [
        d.format() for d in result.diagnostics if d.code in ("example-invalid", "no-valid-request")
    ] == []
    requests = requests_by_name(result.collection)
    assert requests["POST /a"]["request"]["url"]["query"][0]["value"] == "5"
    assert json.loads(requests["POST /a"]["request"]["body"]["raw"]) == {
        "name": "x"
    }  # `id` is readOnly
    assert requests["POST /b"]["request"]["body"]["urlencoded"][0]["value"] == "3"


def test_swagger2_x_example_is_checked_and_located() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "host": "api.example.com",
        "paths": {
            "/a": {
                "get": {
                    "parameters": [
                        {
                            "name": "size",
                            "in": "query",
                            "required": True,
                            "type": "string",
                            "enum": ["S", "M"],
                            "x-example": "XL",
                        }
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    result = convert_document(document)
    assert result.collection is not None
    [invalid] = warnings(result.diagnostics, "example-invalid")
    assert invalid.pointer == "/paths/~1a/get/parameters/0/x-example"
    assert (
        requests_by_name(result.collection)["GET /a"]["request"]["url"]["query"][0]["value"] == "S"
    )


def test_each_distinct_schema_and_example_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    checked: list[Any] = []
    original_init = example_check_module._Check.__init__
    original_errors = example_check_module._Check.errors

    def init(self: Any, schema: Any, store: Any) -> None:
        made.append(schema)
        original_init(self, schema, store)

    def errors(self: Any, value: Any) -> list[Any]:
        checked.append(value)
        return original_errors(self, value)

    monkeypatch.setattr(example_check_module._Check, "__init__", init)
    monkeypatch.setattr(example_check_module._Check, "errors", errors)
    body = {"schema": {"$ref": "#/components/schemas/Thing"}, "example": {"name": "x"}}
    document = _api(
        {f"/p{i}": _post(body) for i in range(20)},
        {"schemas": {"Thing": {"type": "object", "properties": {"name": {"type": "string"}}}}},
    )
    assert convert_document(document).collection is not None
    assert len(made) == 1 and checked == [{"name": "x"}]


def test_a_credential_in_an_invalid_example_never_shows_in_the_warning() -> None:
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"  # noqa: E501
    document = _api(
        {
            "/a": _post(
                {
                    "schema": {
                        "type": "object",
                        "required": ["n"],
                        "properties": {"n": {"type": "integer"}, "note": {"type": "integer"}},
                    },
                    "example": {"note": jwt},
                }
            )
        }
    )
    result = convert_document(document)
    assert result.collection is not None
    [invalid] = warnings(result.diagnostics, "example-invalid")
    assert jwt not in invalid.format() and "eyJ" not in invalid.format()
    assert jwt not in json.dumps(result.collection)


def test_a_generated_value_that_fits_two_one_of_branches_is_made_to_fit_one_without_a_warning() -> (
    None
):
    narrow = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"type": "string", "enum": ["cat"]}},
    }
    wide = {"type": "object", "properties": {"name": {"type": "string"}}}
    document = _api({"/a": _post({"schema": {"oneOf": [narrow, wide]}})})
    result = convert_document(document)
    assert result.collection is not None
    assert [d.code for d in result.diagnostics if d.code.startswith(("example", "no-valid"))] == []
    body = json.loads(requests_by_name(result.collection)["POST /a"]["request"]["body"]["raw"])
    assert body == {
        "name": "string"
    }  # {"kind": "cat"}, the first branch's value, fits the wide one too


def test_branches_no_value_tells_apart_are_no_valid_example_at_the_schema() -> None:
    anything = {"type": "object", "properties": {"a": {"type": "string"}}}
    document = _api({"/a": _post({"schema": {"oneOf": [anything, {**anything}]}})})
    result = convert_document(document)
    [warning] = warnings(result.diagnostics, "no-valid-example")
    assert warning.pointer == "/paths/~1a/post/requestBody/content/application~1json/schema"
    # not proven: no request is declared hopeless
    assert warnings(result.diagnostics, "no-valid-request") == []


def ecma_spec() -> dict[str, Any]:
    properties = {
        "num": {"type": "string", "pattern": r"^\d+$", "example": "12\n"},
        "code": {"type": "string", "pattern": "(?i)^abc$", "example": "ABC"},
        "name": {"type": "string", "pattern": r"^\p{L}+$", "example": "\u00e9t\u00e9"},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Patterns", "version": "1"},
        "servers": [{"url": "https://api-prd.kpn.com/p"}],
        "paths": {
            "/p": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": properties}
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }


def test_examples_are_judged_by_ecma_262_as_prism_judges_them() -> None:
    """ "12\\n" matches `^\\d+$` for Python's `re`, not for ECMA-262 (Prism, Postman): it is warned
    about and repaired. `\\p{L}` is a Unicode property to ECMA-262 (an error to Python's `re`): the
    example that matches it is sent as it is. A pattern that is no ECMA-262 regex is reported where
    it is."""
    result = convert_document(ecma_spec())
    assert result.collection is not None
    [invalid] = warnings(result.diagnostics, "example-invalid")
    assert invalid.pointer.endswith("/properties/num/example")
    [not_ecma] = warnings(result.diagnostics, "pattern-not-ecma")
    assert not_ecma.pointer.endswith("/properties/code/pattern")
    [request] = [
        r
        for r in iter_requests(result.collection["item"])
        if r["request"]["url"]["raw"].endswith("/p")
    ]
    body = json.loads(request["request"]["body"]["raw"])
    assert re.fullmatch("[0-9]+", body["num"])
    assert body["name"] == "\u00e9t\u00e9" and body["code"] == "ABC"
