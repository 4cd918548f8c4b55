"""Real-world edge cases: each once broke the converter or leaked something it must not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kpn_collections import Settings, convert_document
from kpn_collections.auth.token_item import GET_ACCESS_TOKEN

from ..acceptance.test_cli import run
from ..helpers import find_request, iter_requests, schema_errors


def oas(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Edge", "version": "1"},
        "servers": [{"url": "https://api.example.test"}],
        "paths": paths,
        **extra,
    }


def convert(document: dict[str, Any], **settings: Any) -> dict[str, Any]:
    result = convert_document(document, Settings(**settings))
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert schema_errors(result.collection) == []
    return result.collection


OK = {"responses": {"200": {"description": "ok"}}}


def test_token_request_sends_grant_type_when_the_url_does_not() -> None:
    """Decided at run time (the tokenUrl variable may be overridden): the body field is on when the
    URL in the file lacks grant_type and off when it carries it; the scripts switch it by the URL as
    resolved."""
    collection = convert(
        oas({"/a": {"get": OK}}), token_url="https://login.example.test/oauth2/token"
    )
    body = collection["item"][0]["request"]["body"]["urlencoded"]
    assert {
        "key": "grant_type",
        "value": "client_credentials",
        "type": "text",
        "disabled": False,
    } in body
    assert '["grant_type", "client_credentials"]' in "\n".join(
        collection["event"][0]["script"]["exec"]
    )
    kpn_default = convert(oas({"/a": {"get": OK}}))
    grant = [
        f
        for f in kpn_default["item"][0]["request"]["body"]["urlencoded"]
        if f["key"] == "grant_type"
    ]
    assert grant == [
        {"key": "grant_type", "value": "client_credentials", "type": "text", "disabled": True}
    ]
    assert kpn_default["item"][0]["event"][0]["listen"] == "prerequest"


def test_relative_token_url_is_under_base_url() -> None:
    document = oas(
        {"/a": {"get": OK}},
        security=[{"o": []}],
        components={
            "securitySchemes": {
                "o": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
                }
            }
        },
    )
    variables = {v["key"]: v["value"] for v in convert(document)["variable"]}
    assert variables["tokenUrl"] == "{{baseUrl}}/oauth/token"


def test_token_operation_examples_never_leak_secrets() -> None:
    document = oas(
        {
            "/token": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "example": {
                                    "client_id": "abc",
                                    "client_secret": "hunter2",
                                    "password": "hunter3",
                                    "refresh_token": "r-123",
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "example": {"access_token": "eyJleaked", "expires_in": 3600}
                                }
                            },
                        }
                    },
                }
            },
            "/b": {"get": OK},
        },
        security=[{"bearer": []}],
        components={"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    )
    text = json.dumps(convert(document))
    for secret in ("hunter2", "hunter3", "r-123", "eyJleaked"):
        assert secret not in text


def test_path_item_ref_operations_are_kept() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Refs", "version": "1"},
        "servers": [{"url": "https://api.example.test"}],
        "paths": {"/a": {"$ref": "#/components/pathItems/P"}},
        "components": {"pathItems": {"P": {"get": OK, "post": OK}}},
    }
    names = [i["name"] for i in iter_requests(convert(document)["item"])]
    assert "GET /a" in names and "POST /a" in names


def test_wide_nested_schemas_are_cut_not_expanded() -> None:
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/components/schemas/S{i + 1}"} for j in range(4)},
        }
        for i in range(12)
    }
    schemas["S12"] = {"type": "string"}
    document = oas(
        {
            "/a": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}
                        }
                    },
                    **OK,
                }
            }
        },
        components={"schemas": schemas},
    )
    body = find_request(convert(document), "POST /a")["request"]["body"]["raw"]
    assert len(body) < 200_000


def test_swagger_host_with_scheme_and_relative_base_path() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "H", "version": "1"},
        "host": "https://api.kpn.com",
        "basePath": "v1",
        "paths": {"/a": {"get": OK}},
    }
    variables = {v["key"]: v["value"] for v in convert(document)["variable"]}
    assert variables["baseUrl"] == "https://api.kpn.com/v1"


def test_swagger_body_parameter_without_name_keeps_its_body() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "B", "version": "1"},
        "host": "api.kpn.com",
        "paths": {
            "/a": {
                "post": {
                    "parameters": [
                        {
                            "in": "body",
                            "schema": {"type": "object", "properties": {"x": {"type": "string"}}},
                        }
                    ],
                    **OK,
                }
            }
        },
    }
    assert (
        find_request(convert(document), "POST /a")["request"]["body"]["raw"]
        == '{\n  "x": "string"\n}'
    )


def test_undefined_security_scheme_is_a_located_warning() -> None:
    result = convert_document(oas({"/a": {"get": {"security": [{"nope": []}], **OK}}}))
    warnings = [d for d in result.diagnostics if d.code == "undefined-security-scheme"]
    assert [d.pointer for d in warnings] == ["/paths/~1a/get/security/0"]


def test_ref_under_default_response_is_checked() -> None:
    result = convert_document(
        oas({"/a": {"get": {"responses": {"default": {"$ref": "#/components/responses/Missing"}}}}})
    )
    assert [d.pointer for d in result.diagnostics if d.code == "dangling-ref"] == [
        "/paths/~1a/get/responses/default/$ref"
    ]


def test_inject_survives_null_sections(tmp_path: Path) -> None:
    spec = tmp_path / "null.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: N, version: '1'}\npaths: {}\ncomponents: null\n",
        encoding="utf-8",
    )
    completed = run("inject", str(spec), "-o", "-")
    assert completed.returncode == 0, completed.stderr
    assert "kpnClientCredentials" in completed.stdout


def test_same_output_name_twice_is_a_usage_error(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "api.json").write_text(
            json.dumps(oas({"/a": {"get": OK}})), encoding="utf-8"
        )
    completed = run(
        "convert",
        str(tmp_path / "one" / "api.json"),
        str(tmp_path / "two" / "api.json"),
        "-o",
        str(tmp_path / "out"),
    )
    assert completed.returncode == 2
    assert "api.postman_collection.json" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_untitled_specs_get_different_ids() -> None:
    first = convert_document(oas({"/a": {"get": OK}}), source="a.yaml").collection
    second = convert_document(oas({"/a": {"get": OK}}), source="b.yaml").collection
    assert first and second and first["info"]["_postman_id"] != second["info"]["_postman_id"]
    assert first["item"][0]["name"] == GET_ACCESS_TOKEN
