"""The client-credentials token flow, proven by newman against a local KPN-like gateway.

Every converted collection (fixtures and the real KPN corpus) runs in newman with only `--env-var`s:
the Get Access Token tests pass and every request that uses the bearer token reaches the gateway
with a valid one. Wrong or missing credentials fail with a clear message; tokens are renewed when
they expire; a folder run fetches its own token.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kpn_collections import Settings, convert_file
from kpn_collections.auth.token_item import GET_ACCESS_TOKEN

from ..conftest import CORPUS, FIXTURES, corpus_specs, require_corpus
from ..helpers import iter_requests
from ..support.gateway import Gateway
from ..support.newman import NewmanRun, require_newman, run_newman

FIXTURE_SPECS = sorted(p for p in FIXTURES.glob("*/*/input.*") if p.parent.parent.name != "broken")
CREDENTIALS = {"client_id": "test-client", "client_secret": "test-secret"}


def convert(spec: Path, **settings: Any) -> dict[str, Any]:
    result = convert_file(spec, Settings(**settings))
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    return result.collection


def variable(collection: dict[str, Any], key: str) -> str:
    return str(next(v["value"] for v in collection["variable"] if v["key"] == key))


def bearer_item_ids(collection: dict[str, Any]) -> set[str]:
    """Requests whose effective auth (own, else the collection's) is the bearer token."""
    default = collection.get("auth", {}).get("type")
    return {
        item["id"]
        for item in iter_requests(collection["item"])
        if item["request"].get("auth", {}).get("type", default) == "bearer"
    }


def own_token_paths(collection: dict[str, Any]) -> tuple[str, ...]:
    """The path of the API's own token operation, when the collection's tokenUrl points under
    baseUrl."""
    url = variable(collection, "tokenUrl")
    return (url.removeprefix("{{baseUrl}}"),) if url.startswith("{{baseUrl}}") else ()


def run_against_gateway(collection: dict[str, Any], gateway: Gateway, **kwargs: Any) -> NewmanRun:
    env = {"baseUrl": gateway.url, **CREDENTIALS, **kwargs.pop("env", {})}
    if not variable(collection, "tokenUrl").startswith("{{baseUrl}}"):
        env["tokenUrl"] = gateway.token_url
    return run_newman(collection, env_vars=env, **kwargs)


def item_executions(run: NewmanRun) -> list[dict[str, Any]]:
    """One execution per request item: newman's JSON report repeats an item when its pre-request
    script sent a request (pm.sendRequest), so keep the last entry per cursor."""
    by_cursor: dict[str, dict[str, Any]] = {}
    for execution in run.executions:
        by_cursor[execution["cursor"]["ref"]] = execution
    return list(by_cursor.values())


def assert_token_flow_works(collection: dict[str, Any], run: NewmanRun, gateway: Gateway) -> None:
    assert run.script_errors() == [], run.describe()
    assert run.request_errors() == [], run.describe()
    token_assertions = [a for a in run.assertions() if a[0] == GET_ACCESS_TOKEN]
    assert len(token_assertions) == 3 and all(passed for _, _, passed, _ in token_assertions), (
        run.describe()
    )
    bearer = bearer_item_ids(collection)
    executions = item_executions(run)
    executed_bearer = [e for e in executions if e["item"]["id"] in bearer]
    assert len(executions) == len(list(iter_requests(collection["item"])))
    assert executed_bearer, "no request uses the bearer token"
    for execution in executed_bearer:
        assert execution["response"]["code"] == 200, (execution["item"]["name"], run.describe())
    authorized = [r for r in gateway.requests if r.authorized]
    assert len(authorized) == len(executed_bearer)


@pytest.mark.parametrize(
    "spec", FIXTURE_SPECS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}"
)
def test_fixture_collections_run_in_newman(spec: Path) -> None:
    require_newman()
    collection = convert(spec)
    with Gateway(own_token_paths=own_token_paths(collection)) as gateway:
        run = run_against_gateway(collection, gateway)
        assert_token_flow_works(collection, run, gateway)
        assert len(gateway.issued_tokens) == 1  # fetched once, reused by every request


@pytest.mark.parametrize(
    "spec", corpus_specs() or [CORPUS / "missing-corpus.yml"], ids=lambda p: p.name
)
def test_corpus_collections_run_in_newman(spec: Path) -> None:
    require_corpus()
    require_newman()
    collection = convert(spec)
    if not any(item["name"] == GET_ACCESS_TOKEN for item in collection["item"]):
        # secured by API keys only: the key stays, declared and empty, on the operations that ask
        # for it
        assert spec.name == "kpn-fiam-eneco-data-products-openapi.yml"
        assert variable(collection, "apikey") == ""
        assert collection["auth"]["type"] == "apikey"
        return
    with Gateway(own_token_paths=own_token_paths(collection)) as gateway:
        run = run_against_gateway(collection, gateway, timeout=300)
        assert_token_flow_works(collection, run, gateway)


def test_wrong_credentials_fail_with_the_gateway_answer() -> None:
    require_newman()
    collection = convert(FIXTURES / "oas30" / "features" / "input.yaml")
    with Gateway() as gateway:
        run = run_against_gateway(collection, gateway, env={"client_secret": "wrong"})
    assert run.returncode != 0
    messages = [
        error
        for name, _, passed, error in run.assertions()
        if name == GET_ACCESS_TOKEN and not passed
    ]
    assert any(
        "the token endpoint answered HTTP 401" in (m or "") and "invalid_client" in (m or "")
        for m in messages
    ), run.describe()
    assert gateway.issued_tokens == []


def test_missing_credentials_say_what_to_set() -> None:
    require_newman()
    collection = convert(FIXTURES / "swagger20" / "features" / "input.yaml")
    with Gateway() as gateway:
        run = run_newman(
            collection, env_vars={"baseUrl": gateway.url, "tokenUrl": gateway.token_url}
        )
    assert run.returncode != 0
    messages = " ".join(
        error or ""
        for name, _, passed, error in run.assertions()
        if name == GET_ACCESS_TOKEN and not passed
    )
    assert (
        "client_id is empty: fill in the collection variables client_id and client_secret"
        in messages
    )


def test_expired_tokens_are_renewed_during_the_run() -> None:
    require_newman()
    collection = convert(FIXTURES / "oas30" / "features" / "input.yaml")
    with Gateway(token_lifetime_s=2) as gateway:
        run = run_against_gateway(collection, gateway, extra_args=["--delay-request", "500"])
        assert_token_flow_works(collection, run, gateway)
        assert len(gateway.issued_tokens) >= 2, "the token was never renewed"
        # the later requests carried a token that was issued after the first one
        later = [
            r for r in gateway.requests if r.authorized and r.token != gateway.issued_tokens[0]
        ]
        assert later


def test_folder_run_fetches_its_own_token() -> None:
    require_newman()
    collection = convert(FIXTURES / "oas30" / "features" / "input.yaml")
    with Gateway() as gateway:
        run = run_against_gateway(collection, gateway, folder="Customers")
        assert run.script_errors() == [], run.describe()
        names = [e["item"]["name"] for e in run.executions]
        assert GET_ACCESS_TOKEN not in names and "List customers" in names
        assert len(gateway.token_requests) == 1
        list_customers = next(
            r for r in gateway.requests if r.path == "/customers" and r.method == "GET"
        )
        assert list_customers.authorized


def test_token_operation_spec_uses_its_own_endpoint() -> None:
    specs = {p.name: p for p in require_corpus()}
    collection = convert(specs["kpn-match-openapi.yml"])
    assert variable(collection, "tokenUrl") == "{{baseUrl}}/token"
    first = collection["item"][0]
    assert first["name"] == GET_ACCESS_TOKEN
    assert first["request"]["body"]["options"]["raw"]["language"] == "json"
    token_operation = next(
        i for i in iter_requests(collection["item"]) if i["name"] == "Token Request"
    )
    assert token_operation["request"]["auth"] == {"type": "noauth"}
    assert '"client_secret": "{{client_secret}}"' in token_operation["request"]["body"]["raw"]
    assert '"client_id": "{{client_id}}"' in token_operation["request"]["body"]["raw"]


def test_spec_token_url_and_override() -> None:
    specs = {p.name: p for p in require_corpus()}
    msm = convert(specs["kpn-mobile-services-management-openapi.yml"])
    assert (
        variable(msm, "tokenUrl")
        == "https://api-prd.kpn.com/oauth/grip/msm/accesstoken?grant_type=client_credentials"
    )
    default = convert(specs["parley-secure-messenger-openapi.yml"])
    assert (
        variable(default, "tokenUrl")
        == "https://api-prd.kpn.com/oauth/client_credential/accesstoken?grant_type=client_credentials"
    )
    overridden = convert(specs["kpn-sms-openapi.yml"], token_url="https://example.test/token")
    assert variable(overridden, "tokenUrl") == "https://example.test/token"


def test_secrets_are_never_written() -> None:
    for spec in [*FIXTURE_SPECS, *require_corpus()]:
        collection = convert(spec)
        for key in ("client_id", "client_secret", "access_token", "access_token_expires_at"):
            if any(v["key"] == key for v in collection["variable"]):
                assert variable(collection, key) == ""
        text = str(collection)
        assert "your_client_secret" not in text


def test_collection_auth_is_bearer_and_public_operations_stay_public() -> None:
    collection = convert(FIXTURES / "oas30" / "features" / "input.yaml")
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
    }
    health = next(i for i in iter_requests(collection["item"]) if i["name"] == "Health check")
    assert health["request"]["auth"] == {"type": "noauth"}
    keys = [v["key"] for v in collection["variable"]]
    assert keys[:6] == [
        "baseUrl",
        "environment",
        "tokenUrl",
        "client_id",
        "client_secret",
        "access_token",
    ]
    assert "access_token_expires_at" in keys


HOSTILE = "x\"'`${alert(1)}</script>\u2028{{client_secret}}\\"


def test_hostile_spec_values_stay_inside_javascript_strings(tmp_path: Path) -> None:
    """A value from the spec that reaches a script is a JSON string literal there; node parses the
    script."""
    spec = tmp_path / "hostile.json"
    spec.write_text(
        json.dumps(
            {
                "openapi": "3.0.3",
                "info": {"title": HOSTILE, "version": "1"},
                "servers": [{"url": "https://api.example.test"}],
                "paths": {
                    "/oauth/token": {
                        "post": {
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "example": {
                                            "client_id": "x",
                                            "client_secret": "s3cr3t-from-spec",
                                            "audience": HOSTILE,
                                        }
                                    }
                                }
                            },
                            "responses": {"200": {"description": "token"}},
                        }
                    },
                    "/things": {
                        "get": {"summary": HOSTILE, "responses": {"200": {"description": "ok"}}}
                    },
                },
                "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
                "security": [{"bearer": []}],
            }
        ),
        encoding="utf-8",
    )
    collection = convert(spec)
    assert "s3cr3t-from-spec" not in json.dumps(collection)
    scripts = [
        collection["event"][0]["script"]["exec"],
        collection["item"][0]["event"][0]["script"]["exec"],
    ]
    for index, lines in enumerate(scripts):
        text = "\n".join(lines)
        assert "</script>" not in text and "\u2028" not in text
        path = tmp_path / f"script{index}.js"
        path.write_text(text, encoding="utf-8")
        if shutil.which("node"):
            checked = subprocess.run(
                ["node", "--check", str(path)], capture_output=True, text=True, check=False
            )
            assert checked.returncode == 0, checked.stderr
    prerequest = "\n".join(scripts[0])
    assert (
        '["audience", "x\\"\\u0027`${alert(1)}\\u003c/script\\u003e\\u2028{{client_secret}}\\\\"]'
        in prerequest
    )


def test_auth_choice_is_reported_and_can_be_forced() -> None:
    match = {p.name: p for p in require_corpus()}["kpn-match-openapi.yml"]
    result = convert_file(match, Settings())
    notes = [d.message for d in result.diagnostics if d.code == "auth-choice"]
    assert notes == ["token flow: token-operation (the API issues its own tokens at POST /token)"]
    forced = convert(match, auth_mode="client-credentials")
    assert variable(forced, "tokenUrl").startswith(
        "https://api-prd.kpn.com/oauth/client_credential/"
    )
    spec_only = convert(match, auth_mode="spec")
    assert all(item["name"] != GET_ACCESS_TOKEN for item in spec_only["item"])
    eneco = {p.name: p for p in require_corpus()}["kpn-fiam-eneco-data-products-openapi.yml"]
    notes = [
        d.message for d in convert_file(eneco, Settings()).diagnostics if d.code == "auth-choice"
    ]
    assert notes == ["token flow: spec (the definition is secured by apiKey only)"]


@pytest.mark.parametrize(
    "folder", [None, "Customers"], ids=["get-access-token", "pre-request-script"]
)
def test_token_url_without_its_query_string_still_yields_a_token(folder: str | None) -> None:
    """A tokenUrl overridden without `?grant_type=client_credentials` gets grant_type in the body
    instead; one that carries it never gets it twice (the gateway answers 400 to a repeated
    grant_type)."""
    require_newman()
    collection = convert(FIXTURES / "oas30" / "features" / "input.yaml")
    with Gateway() as gateway:
        bare = gateway.token_url.split("?")[0]
        for token_url, in_body in ((bare, True), (gateway.token_url, False)):
            gateway.token_requests.clear()
            run = run_newman(
                collection,
                folder=folder,
                env_vars={"baseUrl": gateway.url, **CREDENTIALS, "tokenUrl": token_url},
            )
            assert run.script_errors() == [] and run.request_errors() == [], run.describe()
            assert all(
                passed for name, _, passed, _ in run.assertions() if name == GET_ACCESS_TOKEN
            )
            bearer = [
                e for e in item_executions(run) if e["item"]["id"] in bearer_item_ids(collection)
            ]
            assert bearer and all(e["response"]["code"] == 200 for e in bearer), run.describe()
            assert gateway.token_requests and all(
                ("grant_type" in r.form()) is in_body for r in gateway.token_requests
            ), run.describe()


NUMBER_VERIFY = """\
openapi: 3.0.3
info: {title: Number Verify, version: "1.0"}
servers: [{url: "https://api-prd.kpn.com/communication/kpn/number-verify"}]
security: [{bearer: []}]
paths:
  /oauth2/token:
    post:
      summary: Request an access token
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [grant_type, client_id, client_secret, scope]
              properties:
                grant_type: {type: string, example: client_credentials}
                client_id: {type: string, example: your client id}
                client_secret: {type: string, example: your client secret}
                scope: {type: string, example: "number-verification:verify"}
            examples:
              credentials:
                value:
                  {grant_type: client_credentials, client_id: your client id,
                   client_secret: your client secret}
      responses:
        "200":
          description: the token
          content:
            application/json:
              schema: {type: object, properties: {access_token: {type: string}}}
  /verify:
    post:
      summary: Verify a number
      requestBody:
        content:
          application/json:
            schema:
              {type: object, properties: {phoneNumber: {type: string, example: "+31612345678"}}}
      responses:
        "200":
          description: verified
          content:
            application/json:
              schema: {type: object}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
"""


def test_number_verify_style_token_operation_gets_a_token(tmp_path: Path) -> None:
    """The API's own token operation and Get Access Token send the credential variables, never the
    spec's placeholders, and the fields the token schema requires (`scope`, missing from the named
    example)."""
    require_newman()
    spec = tmp_path / "number-verify.yaml"
    spec.write_text(NUMBER_VERIFY, encoding="utf-8")
    collection = convert(spec)
    assert "your client secret" not in json.dumps(collection)
    with Gateway(own_token_paths=("/oauth2/token",), own_token_fields=("scope",)) as gateway:
        run = run_against_gateway(collection, gateway)
        assert_token_flow_works(collection, run, gateway)
        codes = {e["item"]["name"]: e["response"]["code"] for e in item_executions(run)}
        assert codes == {
            GET_ACCESS_TOKEN: 200,
            "Request an access token": 200,
            "Verify a number": 200,
        }, codes
        assert len(gateway.token_requests) == 2
        assert all(
            r.form()["scope"] == "number-verification:verify" for r in gateway.token_requests
        )
