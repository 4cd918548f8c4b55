"""Issue 21: every generated request is one its own spec accepts, and findable in its folder."""

from __future__ import annotations

from typing import Any

import pytest

from kpn_collections import Settings, convert_document

from ..e2e.test_token_flow import run_against_gateway
from ..helpers import find_request, operation_requests, schema_errors
from ..support.gateway import Gateway
from ..support.newman import require_newman

OK = {"responses": {"200": {"description": "ok"}}}


def convert(document: dict[str, Any], **settings: Any) -> tuple[dict[str, Any], list[str]]:
    result = convert_document(document, Settings(**settings))
    messages = [d.format() for d in result.diagnostics]
    assert result.collection is not None, messages
    assert schema_errors(result.collection) == []
    return result.collection, messages


def swagger(paths: dict[str, Any]) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {"title": "T", "version": "1"},
        "host": "api.example.test",
        "basePath": "/v1",
        "schemes": ["https"],
        "paths": paths,
    }


def oas(paths: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "servers": [{"url": "https://api.example.test"}],
        "paths": paths,
    }


@pytest.mark.parametrize("make", [swagger, oas])
def test_extension_keys_under_paths_and_path_items_are_not_paths_or_operations(make: Any) -> None:
    document = make(
        {
            "x-codegen-contextRoot": "/apps/x",
            "x-meta": {"get": OK},
            "/a": {"x-handler": {"get": OK}, "x-note": "text", "get": OK},
        }
    )
    collection, messages = convert(document)
    assert [r["request"]["url"]["raw"] for r in operation_requests(collection)] == ["{{baseUrl}}/a"]
    assert not [m for m in messages if "validator-stopped" in m or "error" in m]


def form_body(media: str, required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "required": required,
                    "properties": {
                        "must": {"type": "string", "example": "m"},
                        "may": {"type": "string"},
                    },
                }
            }
        },
    }


@pytest.mark.parametrize("method", ["get", "head", "delete"])
def test_a_body_on_get_head_delete_is_sent(method: str) -> None:
    document = oas(
        {
            "/a": {
                method: {
                    **OK,
                    "requestBody": form_body("application/x-www-form-urlencoded", ["must"]),
                }
            },
            "/b": {"get": OK},
        }
    )
    collection, _ = convert(document)
    with_body, without = operation_requests(collection)
    assert with_body["request"]["body"]["urlencoded"][0]["key"] == "must"
    assert with_body["protocolProfileBehavior"] == {"disableBodyPruning": True}
    assert "protocolProfileBehavior" not in without


def test_swagger_form_field_of_a_get_is_sent() -> None:
    document = swagger(
        {
            "/a": {
                "get": {
                    **OK,
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "must", "in": "formData", "type": "string", "required": True}
                    ],
                }
            }
        }
    )
    (request,) = operation_requests(convert(document)[0])
    assert request["protocolProfileBehavior"] == {"disableBodyPruning": True}


def test_only_a_documented_redirect_is_not_followed() -> None:
    redirect = {
        "responses": {"302": {"description": "to the login page"}, "400": {"description": "bad"}}
    }
    document = oas(
        {
            "/login": {"get": redirect},
            "/a": {
                "get": {
                    "responses": {"200": {"description": "ok"}, "302": {"description": "moved"}}
                }
            },
        }
    )
    login, other = operation_requests(convert(document)[0])
    assert login["protocolProfileBehavior"] == {"followRedirects": False}
    assert "protocolProfileBehavior" not in other


@pytest.mark.parametrize("media", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_optional_form_fields_are_disabled(media: str) -> None:
    document = oas({"/a": {"post": {**OK, "requestBody": form_body(media, ["must"])}}})
    (request,) = operation_requests(convert(document)[0])
    fields = {
        f["key"]: f
        for f in request["request"]["body"]["formdata" if "multipart" in media else "urlencoded"]
    }
    assert "disabled" not in fields["must"]
    assert fields["may"]["disabled"] is True


def test_an_optional_form_field_with_an_example_stays_enabled() -> None:
    body = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"may": {"type": "string"}}},
                "example": {"may": "given"},
            }
        }
    }
    (request,) = operation_requests(convert(oas({"/a": {"post": {**OK, "requestBody": body}}}))[0])
    assert "disabled" not in request["request"]["body"]["urlencoded"][0]


def test_request_names_are_unique_within_a_folder() -> None:
    document = oas(
        {
            "/sip/{id}": {
                "get": {
                    **OK,
                    "summary": "SIP Account Read",
                    "operationId": "readSip",
                    "tags": ["sip"],
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            },
            "/sip": {
                "get": {**OK, "summary": "SIP Account Read", "tags": ["sip"]},
                "post": {**OK, "summary": "SIP Account Create", "tags": ["sip"]},
            },
            "/other": {"get": {**OK, "summary": "SIP Account Read", "tags": ["other"]}},
        }
    )
    collection, _ = convert(document)
    names = {f["name"]: [i["name"] for i in f["item"]] for f in collection["item"] if "item" in f}
    assert names["sip"] == [
        "SIP Account Read (readSip)",
        "SIP Account Read (GET /sip)",
        "SIP Account Create",
    ]
    assert names["other"] == ["SIP Account Read"]
    assert find_request(collection, "SIP Account Read (readSip)")
    flat = [r["name"] for r in operation_requests(convert(document, folders="flat")[0])]
    assert len(flat) == len(set(flat))


def test_newman_sends_the_form_body_of_a_get() -> None:
    require_newman()
    document = oas(
        {
            "/search": {
                "get": {
                    **OK,
                    "requestBody": form_body("application/x-www-form-urlencoded", ["must"]),
                }
            }
        }
    )
    collection, _ = convert(document)
    with Gateway() as gateway:
        run_against_gateway(collection, gateway)
        (search,) = [r for r in gateway.requests if r.path.startswith("/search")]
    assert search.method == "GET"
    assert search.form() == {"must": "m"}  # the optional field is disabled, the required one sent


def path_parameter(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", **schema}}


SEGMENT_PATHS = {
    "/messages/{paging}:{id}": {
        "get": {
            **OK,
            "summary": "Page",
            "parameters": [
                path_parameter("paging", enum=["before", "after"]),
                path_parameter("id", example="42"),
            ],
        }
    },
    "/source:{media}": {
        "get": {**OK, "summary": "Source", "parameters": [path_parameter("media", example="cd")]}
    },
    "/items/{id}:archive": {
        "post": {
            **OK,
            "summary": "Archive",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
        }
    },
    "/users/{id}": {
        "get": {**OK, "summary": "User", "parameters": [path_parameter("id", example="u1")]}
    },
}


def test_a_path_parameter_inside_a_segment_is_a_collection_variable() -> None:
    collection, _ = convert(oas(SEGMENT_PATHS))
    urls = {r["name"]: r["request"]["url"] for r in operation_requests(collection)}
    assert urls["Page"]["raw"] == "{{baseUrl}}/messages/{{paging}}:{{id}}"
    assert urls["Source"]["path"] == ["source:{{media}}"]
    assert urls["Archive"]["path"] == [
        "items",
        "{{id_2}}:archive",
    ]  # another value of `id`: its own variable
    assert urls["User"]["path"] == ["users", ":id"]  # a whole segment stays a Postman path variable
    assert urls["User"]["variable"][0]["value"] == "u1"
    variables = {v["key"]: v for v in collection["variable"]}
    assert {k: variables[k]["value"] for k in ("paging", "id", "media", "id_2")} == {
        "paging": "before",
        "id": "42",
        "media": "cd",
        "id_2": "0",
    }
    assert variables["paging"]["description"].startswith(
        "Path parameter `paging` (inside a path segment of GET /messages/{paging}:{id}): edit its"
        " value here."
    )
    assert "One of: before, after." in variables["paging"]["description"]


def test_a_path_parameter_inside_a_segment_never_takes_another_variable() -> None:
    document = oas(
        {
            "/z/{baseUrl}:{client_secret}": {
                "get": {
                    **OK,
                    "parameters": [
                        path_parameter("baseUrl", example="b"),
                        path_parameter("client_secret", example="s"),
                    ],
                }
            }
        }
    )
    collection, _ = convert(document)
    (request,) = operation_requests(collection)
    assert request["request"]["url"]["path"] == [
        "z",
        "{{baseUrl_2}}:s",
    ]  # a credential's name: no variable
    assert [v["value"] for v in collection["variable"] if v["key"] == "baseUrl"] == [
        "https://api.example.test"
    ]


def test_newman_sends_the_value_of_a_path_parameter_inside_a_segment_and_the_edited_one() -> None:
    require_newman()
    collection, _ = convert(oas(SEGMENT_PATHS))
    for entry in collection["variable"]:
        if entry["key"] == "id":
            entry["value"] = "7"  # the tester edits the variable in the collection
    with Gateway() as gateway:
        # or overrides it on the command line
        run = run_against_gateway(collection, gateway, env={"media": "dvd"})
        paths = sorted(r.path for r in gateway.requests if not r.path.startswith("/oauth"))
    assert run.request_errors() == [], run.describe()
    assert paths == ["/items/0:archive", "/messages/before:7", "/source:dvd", "/users/u1"]
