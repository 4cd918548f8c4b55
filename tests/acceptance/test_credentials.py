"""Credentials never reach a collection: warned about in the spec, refused in settings files, swept
from the output, and caught on disk by `convert --check`. Internal errors say "bug" and exit 3."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kpn_collections import Settings, cli, convert_document, credentials, pipeline
from kpn_collections.credentials import secret_kind, strip_url_credentials, without_credentials

from ..conftest import REPO_ROOT
from ..helpers import iter_requests, schema_errors

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"  # noqa: E501
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


def run_cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpn_collections", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (JWT, "a JSON Web Token"),
        (f"Bearer {JWT}", "a JSON Web Token"),
        ("Basic dXNlcm5hbWU6cGFzc3dvcmQxMjM0NTY3OA==", "bearer or basic credentials"),
        (PRIVATE_KEY, "a private key"),
        ("https://alice:s3cret@api.example.test/v1", "a user name and password in a URL"),
        ("https://api.example.test/v1?client_secret=abcdef123", "a credential in a URL query"),
        ("ghp_" + "a" * 36, "an access key"),
        ("AKIAABCDEFGHIJKLMNOP", "an access key"),
    ],
)
def test_secret_shapes_are_recognised(value: str, kind: str) -> None:
    assert secret_kind(value) == kind


@pytest.mark.parametrize(
    "value",
    [
        "string",
        "Bearer <token>",
        "https://api.example.test/v1?page=2",
        "https://api.example.test/v1?api_key={{apikey}}",
        "eyJhbGciOi",
        "s3cret-Passw0rd",
        "mailto:someone@example.test",
        "user@example.test",
    ],
)
def test_ordinary_values_are_not_secrets(value: str) -> None:
    assert secret_kind(value) is None


def test_urls_lose_their_credentials() -> None:
    assert strip_url_credentials("https://u:p@h.test/x?a=1&client_secret=abc&api_key={{k}}") == (
        "https://h.test/x?a=1&api_key={{k}}",
        True,
    )
    assert strip_url_credentials("https://h.test/x?a=1") == ("https://h.test/x?a=1", False)


def test_examples_lose_credentials_and_keep_everything_else() -> None:
    plain = {"name": "Jan", "password": "s3cret-Passw0rd", "items": [1, "two"]}
    # made-up example data stays (a password field, not a secret)
    assert without_credentials(plain) is plain
    assert without_credentials(
        {"client_secret": "real-secret-value", "token": JWT, "n": 1, "ref": "{{client_secret}}"}
    ) == {"client_secret": "", "token": "", "n": 1, "ref": ""}
    unwrapped = {"client_secret": "x", "list": ["", 2]}
    assert without_credentials({"{{ client_secret }}": "x", "list": [JWT, 2]}) == unwrapped
    assert without_credentials({"client_secret": "a", "{{client_secret}}": "b"}) == {
        "client_secret": "a"
    }


def leaky_definition() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Leaky", "version": "1"},
        "servers": [
            {
                "url": "https://alice:hunter2pw@api.example.test/{stage}?api_key=abcdef123456",
                "variables": {"stage": {"default": JWT}},
            }
        ],
        "security": [{"oauth": []}],
        "paths": {
            "/a": {
                "post": {
                    "parameters": [
                        {
                            "name": "X-Debug-Token",
                            "in": "header",
                            "schema": {"type": "string"},
                            "example": JWT,
                        }
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "example": {"client_secret": "abcdefgh12345678", "note": "hello"}
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"kind": {"type": "string", "enum": [JWT]}},
                                    },
                                    "example": {"access_token": "real-looking-token-value"},
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": (
                                "https://login.example.test/token?client_secret=topsecret99"
                            ),
                            "scopes": {},
                        }
                    },
                }
            }
        },
    }


def test_spec_secrets_are_warned_about_and_left_out() -> None:
    result = convert_document(leaky_definition(), Settings(), source="leaky.yaml")
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert schema_errors(result.collection) == []
    warned = {d.pointer: d.message for d in result.diagnostics if d.code == "secret-in-spec"}
    assert set(warned) == {
        "/servers/0/url",
        "/servers/0/variables/stage/default",
        "/paths/~1a/post/parameters/0/example",
        "/paths/~1a/post/requestBody/content/application~1json/example/client_secret",
        "/paths/~1a/post/responses/200/content/application~1json/schema/properties/kind/enum/0",
        "/paths/~1a/post/responses/200/content/application~1json/example/access_token",
        "/components/securitySchemes/oauth/flows/clientCredentials/tokenUrl",
    }
    assert "looks like a JSON Web Token" in warned["/servers/0/variables/stage/default"]
    text = json.dumps(result.collection)
    for secret in (
        JWT,
        "hunter2pw",
        "abcdef123456",
        "abcdefgh12345678",
        "real-looking-token-value",
        "topsecret99",
    ):
        assert secret not in text
    variables = {v["key"]: v["value"] for v in result.collection["variable"]}
    assert variables["baseUrl"] == "https://api.example.test/{{stage}}"
    assert variables["tokenUrl"] == "https://login.example.test/token"
    assert variables["stage"] == ""
    [request] = [i for i in iter_requests(result.collection["item"]) if i["name"] == "POST /a"]
    assert json.loads(request["request"]["body"]["raw"]) == {"client_secret": "", "note": "hello"}


def test_secrets_in_settings_urls_are_left_out(tmp_path: Path) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(
        json.dumps({**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}),
        "utf-8",
    )
    completed = run_cli(
        "convert",
        str(spec),
        "-o",
        "-",
        "--base-url",
        "https://bob:pw123456@api.example.test",
        "--token-url",
        "https://login.example.test/t?access_token=zzzzzzzz",
    )
    assert completed.returncode == 0, completed.stderr
    variables = {v["key"]: v["value"] for v in json.loads(completed.stdout)["variable"]}
    assert (variables["baseUrl"], variables["tokenUrl"]) == (
        "https://api.example.test",
        "https://login.example.test/t",
    )
    assert completed.stderr.count("warning [secret-in-settings]") == 2


def test_a_template_that_hardcodes_a_token_fails_the_conversion(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (REPO_ROOT / "templates" / "get_access_token.test.js.jinja").read_text(
        encoding="utf-8"
    )
    (templates / "get_access_token.test.js.jinja").write_text(
        f'// debugging: "{JWT}"\n' + original, "utf-8"
    )
    spec = tmp_path / "api.json"
    spec.write_text(
        json.dumps({**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}),
        "utf-8",
    )
    out = tmp_path / "out"
    completed = run_cli("convert", str(spec), "-o", str(out), "--templates", str(templates))
    assert completed.returncode == 1, completed.stderr
    assert (
        "error [secret-in-output]: the collection would carry a JSON Web Token at"
        " #/item/0/event/1/script/exec/0 (a variable or script); nothing was written"
        in completed.stderr
    )
    assert not out.exists()


def referencing_definition() -> dict[str, Any]:
    """Server and token URLs that name credential variables: Postman would send the secret to those
    hosts."""
    return {
        **leaky_definition(),
        "servers": [
            {
                "url": (
                    "https://api.example.test/{stage}/{client_secret}?key={{access_token}}&page=1"
                ),
                "variables": {
                    "stage": {"default": "v1"},
                    "client_secret": {"default": "s3cr3t-default"},
                },
            }
        ],
        "components": {
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": (
                                "https://login.example.test/{{client_secret}}/token?a={access_token}"
                            ),
                            "scopes": {},
                        }
                    },
                }
            }
        },
    }


def test_credential_references_in_server_and_token_urls_are_really_left_out() -> None:
    result = convert_document(referencing_definition(), Settings(), source="refs.yaml")
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    warned = {d.pointer for d in result.diagnostics if d.code == "secret-in-spec"}
    assert {
        "/servers/0/url",
        "/components/securitySchemes/oauth/flows/clientCredentials/tokenUrl",
    } <= warned
    variables = {v["key"]: v["value"] for v in result.collection["variable"]}
    assert variables["baseUrl"] == "https://api.example.test/{{stage}}/?page=1"
    assert variables["tokenUrl"] == "https://login.example.test//token"
    assert variables["client_secret"] == "" and variables["stage"] == "v1"
    assert "s3cr3t-default" not in json.dumps(result.collection)
    assert [d.code for d in result.errors] == []


def test_single_brace_credential_references_are_found_in_urls_only() -> None:
    document = {
        "servers": [{"url": "https://{api_key}.example.test/{tenant}"}],
        "host": "{client_secret}.example.test",
        "paths": {"/tokens/{tokenId}": {"get": {"description": "see {access_token}"}}},
        "externalDocs": {"url": "https://docs.example.test/{token}"},
    }
    assert [where for where, _ in credentials.find_in_document(document)] == [
        "/servers/0/url",
        "/host",
    ]


def test_a_relative_server_url_is_shown_without_its_credentials() -> None:
    definition = {**leaky_definition(), "servers": [{"url": "/v1?client_secret=abcdef123456"}]}
    result = convert_document(definition, Settings(), source="api.yaml")
    [relative] = [d for d in result.diagnostics if d.code == "relative-server"]
    assert "'/v1'" in relative.message and "abcdef123456" not in relative.message


def test_credential_references_in_settings_urls_are_left_out(tmp_path: Path) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(
        json.dumps({**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}),
        "utf-8",
    )
    completed = run_cli(
        "convert",
        str(spec),
        "-o",
        "-",
        "--base-url",
        "https://{{client_secret}}.example.test/v1",
        "--token-url",
        "https://login.example.test/t/{access_token}?x={{api_key}}",
    )
    assert completed.returncode == 0, completed.stderr
    variables = {v["key"]: v["value"] for v in json.loads(completed.stdout)["variable"]}
    assert (variables["baseUrl"], variables["tokenUrl"]) == (
        "https://.example.test/v1",
        "https://login.example.test/t/",
    )
    assert completed.stderr.count("warning [secret-in-settings]") == 2
    out = tmp_path / "injected.json"
    completed = run_cli(
        "inject", str(spec), "-o", str(out), "--token-url", "https://u:pw12345@login.example.test/t"
    )
    assert completed.returncode == 0, completed.stderr
    assert (
        "pw12345" not in out.read_text(encoding="utf-8")
        and "warning [secret-in-settings]" in completed.stderr
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://api.example.test/{{client_secret}}",
        "{{access_token}}",
        "https://login.example.test/token?k={{ api_key }}",
    ],
)
def test_sweep_and_check_flag_credential_references_in_variables(
    value: str, tmp_path: Path
) -> None:
    collection: dict[str, Any] = {
        "variable": [
            {"key": "baseUrl", "value": value},
            {"key": "tokenUrl", "value": "https://login.example.test/token"},
            {"key": "contract_schemas", "value": '{"enum": ["{{client_secret}}"]}'},
        ]
    }
    assert [where for where, _ in credentials.find_in_collection(collection)] == [
        "/variable/0/value"
    ]
    spec = tmp_path / "api.json"
    spec.write_text(
        json.dumps({**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}),
        "utf-8",
    )
    assert run_cli("convert", str(spec)).returncode == 0
    target = tmp_path / "api.postman_collection.json"
    stored = json.loads(target.read_text(encoding="utf-8"))
    [index] = [i for i, v in enumerate(stored["variable"]) if v["key"] == "tokenUrl"]
    stored["variable"][index]["value"] = value
    target.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    completed = run_cli("convert", str(spec), "--check")
    assert completed.returncode == 1
    assert (
        f"error [secret-in-collection] at #/variable/{index}/value: the collection file stores a"
        " reference to a credential variable" in completed.stderr
    )


@pytest.mark.parametrize(
    ("token_url", "warned"),
    [
        ("http://login.example.test/token", True),
        ("HTTP://login.example.test/token", True),
        ("http://localhost:8080/token", False),
        ("http://127.0.0.1/token", False),
        ("http://[::1]/token", False),
        ("https://login.example.test/token", False),
    ],
)
def test_a_plain_http_token_url_to_another_host_is_a_warning(token_url: str, warned: bool) -> None:
    definition = {**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}
    result = convert_document(definition, Settings(token_url=token_url), source="api.yaml")
    assert result.collection is not None
    insecure = [d for d in result.diagnostics if d.code == "insecure-token-url"]
    assert bool(insecure) is warned
    if warned:
        assert "client_secret" in insecure[0].message and "https" in insecure[0].hint


def test_token_operation_under_a_plain_http_base_url_is_a_warning() -> None:
    definition = {
        "openapi": "3.0.3",
        "info": {"title": "Own token", "version": "1"},
        "servers": [{"url": "http://api.example.test"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/oauth/token": {
                "post": {
                    "security": [],
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": {"type": "object"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    result = convert_document(definition, Settings(auth_mode="token-operation"), source="api.yaml")
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    [insecure] = [d for d in result.diagnostics if d.code == "insecure-token-url"]
    assert "http://api.example.test/oauth/token" in insecure.message


def test_credentials_in_descriptions_and_code_samples_are_redacted() -> None:
    curl = f'Try it:\n\n    curl -H "Authorization: Bearer {JWT}" https://api.example.test/a'
    definition: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Described", "version": "1", "description": curl},
        "servers": [
            {
                "url": "https://api.example.test/{stage}",
                "description": f"token {JWT}",
                "variables": {
                    "stage": {"default": "v1", "description": f"Basic {'dXNlcjpwYXNzd29yZA' * 2}"}
                },
            }
        ],
        "tags": [
            {
                "name": "things",
                "description": f"see https://bob:pw123456@api.example.test/ and {PRIVATE_KEY}",
            }
        ],
        "paths": {
            "/a": {
                "post": {
                    "tags": ["things"],
                    "summary": f"with ?client_secret=abcdef123456 and {JWT}",
                    "description": curl,
                    "x-code-samples": [{"lang": "curl", "source": curl}],
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "description": curl,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Trace",
                            "in": "header",
                            "description": curl,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"part": {"type": "string", "description": curl}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": f"ok {JWT}",
                            "headers": {
                                "X-Token": {"description": curl, "schema": {"type": "string"}}
                            },
                        }
                    },
                }
            }
        },
    }
    result = convert_document(definition, Settings(), source="described.yaml")
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert result.errors == []
    warned = {d.pointer for d in result.diagnostics if d.code == "secret-in-spec"}
    assert {
        "/info/description",
        "/paths/~1a/post/description",
        "/paths/~1a/post/x-code-samples/0/source",
    } <= warned
    text = json.dumps(result.collection)
    for secret in (JWT, "pw123456", "abcdef123456", "MIIEpAIBAAKCAQEA", "dXNlcjpwYXNzd29yZA"):
        assert secret not in text
    assert "Authorization: Bearer [redacted]" in result.collection["info"]["description"]
    [request] = [
        i
        for i in iter_requests(result.collection["item"])
        if i["request"]["url"]["raw"].endswith("/a")
    ]
    assert "Bearer [redacted]" in request["request"]["description"]
    assert request["name"] == "with ?client_secret= and [redacted]"
    assert request["response"][0]["name"] == "ok [redacted]"
    assert credentials.redact_text(text) == text  # nothing left to redact


@pytest.mark.parametrize(
    "key", ["client-secret", "client_secret", "access-token", "password", "client-id"]
)
def test_settings_files_refuse_credentials(key: str, tmp_path: Path) -> None:
    (tmp_path / ".kpn-collections.yaml").write_text(f"{key}: s3cret-value\n", encoding="utf-8")
    (tmp_path / "api.json").write_text(json.dumps(leaky_definition()), encoding="utf-8")
    completed = run_cli("convert", "api.json", cwd=tmp_path)
    assert completed.returncode == 2
    assert f"{key!r} does not belong in a settings file" in completed.stderr
    assert "--env-var client_secret=" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "api.postman_collection.json").exists()


def test_check_fails_on_a_collection_that_stores_credentials(tmp_path: Path) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(
        json.dumps({**leaky_definition(), "servers": [{"url": "https://api.example.test"}]}),
        "utf-8",
    )
    assert run_cli("convert", str(spec)).returncode == 0
    target = tmp_path / "api.postman_collection.json"
    assert run_cli("convert", str(spec), "--check").returncode == 0
    collection = json.loads(target.read_text(encoding="utf-8"))
    positions = {}
    for index, variable in enumerate(collection["variable"]):
        if variable["key"] in ("client_secret", "access_token"):
            variable["value"] = "exported-by-a-tester"
            positions[variable["key"]] = index
    target.write_text(json.dumps(collection, indent=2), encoding="utf-8")
    before = target.read_bytes()
    completed = run_cli("convert", str(spec), "--check")
    assert completed.returncode == 1
    for key, index in positions.items():
        assert (
            f"{target}: error [secret-in-collection] at #/variable/{index}/value: the collection"
            f" file stores a value for `{key}` (hint: clear the value" in completed.stderr
        )
    assert "1 storing credentials" in completed.stderr
    assert target.read_bytes() == before  # --check writes nothing
    assert run_cli("convert", str(spec)).returncode == 0  # a normal run rewrites it without them
    assert run_cli("convert", str(spec), "--check").returncode == 0


# --- internal errors
# ---------------------------------------------------------------------------------


def _broken_converter(*args: Any, **kwargs: Any) -> Any:
    raise ZeroDivisionError("simulated bug")


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_in_a_conversion_is_reported_as_such(
    debug: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pipeline, "convert_file", _broken_converter)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli.main,
        [
            "convert",
            str(REPO_ROOT / "fixtures" / "broken" / "bom.yaml"),
            "-o",
            str(out),
            "--no-cache",
            *(["--debug"] if debug else []),
        ],
    )
    assert result.exit_code == 3
    assert (
        "internal error in kpn-collections" in result.output
        and "this is a bug, please report it" in result.output
    )
    assert (
        "Traceback" in result.output and "ZeroDivisionError: simulated bug" in result.output
    ) is debug
    assert ("run with --debug for the traceback" in result.output) is not debug
    assert not out.exists()


@pytest.mark.parametrize("command", ["inject", "bundle"])
def test_a_bug_in_inject_or_bundle_is_reported_as_such(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pipeline, f"{command}_file", _broken_converter)
    result = CliRunner().invoke(
        cli.main,
        [
            command,
            str(REPO_ROOT / "fixtures" / "broken" / "bom.yaml"),
            "-o",
            str(tmp_path / "x.yaml"),
            "--debug",
        ],
    )
    assert result.exit_code == 3
    assert "this is a bug" in result.output and "ZeroDivisionError: simulated bug" in result.output
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_outside_the_jobs_is_caught_by_the_entry_point(
    debug: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "plan_conversion", _broken_converter)
    monkeypatch.setattr(
        sys, "argv", ["kpn-collections", "convert", "x.yaml", *(["--debug"] if debug else [])]
    )
    with pytest.raises(SystemExit) as exited:
        cli.entry()
    assert exited.value.code == 3
    stderr = capsys.readouterr().err
    assert "internal error: this is a bug, please report it" in stderr
    assert ("ZeroDivisionError: simulated bug" in stderr) is debug
    assert traceback is not None


@pytest.mark.parametrize("shape", credentials._SHAPES, ids=[s.kind for s in credentials._SHAPES])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_secret_shape_passes_its_own_prefilter(
    shape: credentials._Shape, data: st.DataObject
) -> None:
    text = data.draw(st.from_regex(shape.pattern))
    assert shape.may_match(text), (shape.kind, text)
    assert credentials.secret_kind(text) is not None


def test_the_prefilter_is_what_keeps_ordinary_text_from_the_regexes() -> None:
    """Without `may_match` every shape's regex would read every description: the prefilter must
    turn ordinary text away (and a test that trusts every string would pass the test above)."""
    prose = "Lists the repositories of the authenticated user, sorted by name (see the docs)."
    assert not any(shape.may_match(prose) for shape in credentials._SHAPES)
