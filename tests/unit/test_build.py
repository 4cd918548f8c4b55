"""What the collection holds, feature by feature (the golden files hold the full picture)."""

from __future__ import annotations

import copy
from typing import Any

from kpn_collections import Settings, convert_document
from kpn_collections.load.document import load_document

from ..conftest import FIXTURES
from ..helpers import find_request, iter_requests, schema_errors

SWAGGER = load_document(FIXTURES / "swagger20" / "features" / "input.yaml").data
OAS30 = load_document(FIXTURES / "oas30" / "features" / "input.yaml").data


def convert(document: dict[str, Any], **settings: Any) -> dict[str, Any]:
    result = convert_document(document, Settings(**settings))
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert schema_errors(result.collection) == []
    return result.collection


def variables(collection: dict[str, Any]) -> dict[str, str]:
    return {v["key"]: v["value"] for v in collection["variable"]}


def minimal(**extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}, **extra}


def test_convert_document_api_returns_collection_and_diagnostics() -> None:
    result = convert_document(
        minimal(paths={"/a": {"get": {"responses": {"200": {"description": "ok"}}}}})
    )
    assert result.collection is not None
    assert result.collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert any(d.code == "no-server" for d in result.diagnostics)


def test_swagger2_base_url_prefers_https() -> None:
    assert variables(convert(SWAGGER))["baseUrl"].startswith("https://")
    http_only = copy.deepcopy(SWAGGER)
    http_only["schemes"] = ["http"]
    assert variables(convert(http_only))["baseUrl"].startswith("http://")


def test_swaggerhub_mock_server_is_skipped() -> None:
    assert OAS30["servers"][0]["url"].startswith("https://virtserver.swaggerhub.com/")
    base_url = variables(convert(OAS30))["baseUrl"]
    assert (
        "virtserver" not in base_url
        and base_url == "https://{{environment}}.kpn.com/kpn/features/v1"
    )
    assert variables(convert(OAS30))["environment"] == "api-prd"


def test_request_name_fallbacks() -> None:
    names = {i["name"] for i in iter_requests(convert(OAS30)["item"])}
    assert {"List customers", "getCustomer", "POST /echo"} <= names


def test_optional_parameters_present_but_disabled() -> None:
    request = find_request(convert(OAS30), "List customers")["request"]
    query = {q["key"]: q for q in request["url"]["query"]}
    assert "disabled" not in query["q"] and query["page"]["disabled"] is True
    assert request["url"]["raw"] == "{{baseUrl}}/customers?q=Jansen"
    assert request["url"]["host"] == ["{{baseUrl}}"]


def test_path_variables_have_examples_and_descriptions() -> None:
    url = find_request(convert(OAS30), "getCustomer")["request"]["url"]
    assert url["path"] == ["customers", ":customerId"]
    assert url["variable"][0]["key"] == "customerId" and url["variable"][0]["value"]
    assert url["variable"][0]["description"]


def test_bodies_by_media_type() -> None:
    collection = convert(OAS30)
    modes = {
        i["name"]: i["request"].get("body", {}).get("mode")
        for i in iter_requests(collection["item"])
    }
    assert modes["Create a customer"] == "raw"
    assert modes["Register a payment (form)"] == "urlencoded"
    assert modes["Upload a document"] == "formdata"
    upload = find_request(collection, "Upload a document")["request"]["body"]["formdata"]
    assert {f["type"] for f in upload} == {"text", "file"}
    echo = find_request(collection, "POST /echo")["request"]
    assert {"key": "Content-Type", "value": "text/plain"} in echo["header"]


def test_read_only_properties_left_out_of_request_bodies() -> None:
    body = find_request(convert(OAS30), "Replace a customer")["request"]["body"]["raw"]
    assert '"id"' not in body and '"createdAt"' not in body


def test_saved_responses_have_integer_codes() -> None:
    item = find_request(convert(OAS30), "List customers")
    codes = [r["code"] for r in item["response"]]
    assert codes == [200, 400, 500]  # `default` becomes 500
    assert all(isinstance(c, int) for c in codes)


def test_non_oauth_security_is_mapped_with_declared_variables() -> None:
    collection = convert(OAS30)
    declared = variables(collection)
    replace = find_request(collection, "Replace a customer")["request"]["auth"]
    assert replace["type"] == "apikey"
    basic = find_request(collection, "Register a payment (form)")["request"]["auth"]
    assert basic["type"] == "basic"
    for attribute in [*replace["apikey"], *basic["basic"]]:
        if attribute["value"].startswith("{{"):
            assert declared[attribute["value"].strip("{}")] == ""
    assert find_request(collection, "Health check")["request"]["auth"] == {"type": "noauth"}


def test_folder_by_first_tag_and_untagged_at_root() -> None:
    collection = convert(OAS30)
    top = [i["name"] for i in collection["item"]]
    assert top[-1] == "POST /echo"
    billing = next(i for i in collection["item"] if i["name"] == "Billing")
    assert "Register a device" in [i["name"] for i in billing["item"]]


def test_description_has_parameter_table() -> None:
    description = find_request(convert(OAS30), "List customers")["request"]["description"]
    assert "| Parameter | In | Required | Type | Description |" in description
    assert "| `q` | query | yes | string | Free text search (required). |" in description


def _named(**examples: Any) -> dict[str, Any]:
    return {
        name: {"summary": f"{name} summary", "value": value} for name, value in examples.items()
    }


def test_every_named_example_is_kept_in_pairs() -> None:
    schema = {"type": "object", "properties": {"kind": {"type": "string"}}}
    document = minimal(
        paths={
            "/orders": {
                "post": {
                    "summary": "Create order",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": schema,
                                "examples": _named(
                                    card={"kind": "card"},
                                    invoice={"kind": "invoice"},
                                    gift={"kind": "gift"},
                                ),
                            }
                        }
                    },
                    "responses": {
                        "201": {
                            "description": "Created",
                            "content": {
                                "application/json": {
                                    "schema": schema,
                                    "examples": _named(
                                        invoice={"kind": "invoice-created"},
                                        standard={"kind": "created"},
                                    ),
                                }
                            },
                        },
                        "400": {
                            "description": "Bad Request",
                            "content": {
                                "application/json": {
                                    "schema": schema,
                                    "examples": _named(bad={"kind": "bad"}),
                                }
                            },
                        },
                        "404": {"description": "Not Found"},
                    },
                }
            }
        }
    )
    item = find_request(convert(document), "Create order")
    # the first named example, as before
    assert item["request"]["body"]["raw"] == '{\n  "kind": "card"\n}'
    saved = [
        (r["code"], r["name"], r["originalRequest"]["body"]["raw"], r["body"])
        for r in item["response"]
    ]
    card, invoice, gift = ('{\n  "kind": "' + k + '"\n}' for k in ("card", "invoice", "gift"))
    assert saved == [
        (
            201,
            "Created — invoice summary",
            invoice,
            '{\n  "kind": "invoice-created"\n}',
        ),  # same name: together
        (201, "Created — card summary → standard summary", card, '{\n  "kind": "created"\n}'),
        (
            201,
            "Created — gift summary → invoice summary",
            gift,
            '{\n  "kind": "invoice-created"\n}',
        ),  # unpaired
        (400, "Bad Request", card, '{\n  "kind": "bad"\n}'),
        (404, "Not Found", card, ""),
    ]
    assert len({r["id"] for r in item["response"]}) == len(item["response"])
    lone = find_request(
        convert(
            minimal(
                paths={
                    "/orders": {
                        "post": {
                            "summary": "Create order",
                            "responses": {"400": {"description": "Bad Request"}},
                        }
                    }
                }
            )
        ),
        "Create order",
    )
    # a status with one saved response keeps its id
    assert item["response"][3]["id"] == lone["response"][0]["id"]
