"""Hostile text in an API definition never becomes code.

Titles, descriptions, names, examples and enum values full of quotes, backslashes, newlines,
`</script>`, `${...}`, backticks, `{{variable}}` syntax and U+2028/U+2029 go into a definition;
every script of the collection must parse (acorn, as Postman's sandbox would) to exactly the syntax
tree, literal values left out, of the same definition with plain text in those places: the text
stayed inside string literals. Then newman runs the hostile collection for real.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kpn_collections import Settings, convert_document

from ..helpers import iter_requests, schema_errors
from ..support.gateway import Gateway
from ..support.newman import REPO_ROOT, require_newman, run_newman

HOSTILE = (
    "double \" quote and ' single",
    'back\\slash \\" \\u0041 \\',
    "new\nline\r\nand\ttab",
    "</script><script>alert(1)</script>",
    "${process.exit(1)}",
    "`backtick ${pm.environment.set('pwned', 1)}`",
    "{{client_secret}} {{baseUrl}}",
    "line\u2028separator\u2029paragraph",
    "*/ pm.environment.set('pwned', 1); /*",
    '"); pm.environment.set("pwned", "1"); ("',
    "'); pm.environment.set('pwned', '1'); ('",
    "\\'); pm.environment.set('pwned', '1'); //",
    "<!-- --> \x0b\x0c\x1c\x85 zero\u200bwidth \ufeff",
)
ACORN = REPO_ROOT / "node_modules" / "acorn"


def definition(text: Callable[[], str]) -> dict[str, Any]:
    """One definition with `text()` (a fresh string each call) in every place spec text can reach a
    script, a variable or a request."""
    enum = [text(), text(), text()]
    props = {text(): {"type": "string", "enum": enum}, text(): {"type": "integer"}}
    required = list(props)
    return {
        "openapi": "3.0.3",
        "info": {"title": text(), "description": text(), "version": text()},
        "servers": [
            {
                "url": "https://api.example.test/{stage}",
                "description": text(),
                "variables": {"stage": {"default": "v1", "description": text()}},
            }
        ],
        "tags": [{"name": text(), "description": text()}],
        "security": [{"oauth": []}],
        "paths": {
            "/things": {
                "get": {
                    "summary": text(),
                    "description": text(),
                    "operationId": text(),
                    "tags": [],
                    "parameters": [
                        {
                            "name": text(),
                            "in": "query",
                            "required": True,
                            "description": text(),
                            "schema": {"type": "string", "enum": [text()]},
                            "example": text(),
                        },
                        {
                            "name": "X-Trace",
                            "in": "header",
                            "schema": {"type": "string"},
                            "example": text(),
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": text(),
                            "headers": {
                                "X-Rate": {
                                    "required": True,
                                    "schema": {"type": "string"},
                                    "description": text(),
                                }
                            },
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": required,
                                        "properties": props,
                                        "description": text(),
                                        "pattern": None,
                                    },
                                    "example": {name: text() for name in props},
                                }
                            },
                        },
                        "404": {
                            "description": text(),
                            "content": {
                                "application/json": {"schema": {"type": "string", "enum": [text()]}}
                            },
                        },
                    },
                },
                "post": {
                    "summary": text(),
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {text(): {"type": "string", "example": text()}},
                                }
                            }
                        }
                    },
                    "responses": {"201": {"description": text()}},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "description": text(),
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://login.example.test/token",
                            "scopes": {text(): text()},
                        }
                    },
                }
            }
        },
    }


def strings(base: Callable[[int], str]) -> Callable[[], str]:
    counter = itertools.count()
    return lambda: base(next(counter))


def hostile_definition(shift: int = 0) -> dict[str, Any]:
    """Hostile strings in every place, rotated by `shift` so that each one lands in every kind of
    place."""
    return _without_none(
        definition(strings(lambda i: f"{HOSTILE[(i + shift) % len(HOSTILE)]} #{i}"))
    )


def plain_definition(shift: int = 0) -> dict[str, Any]:
    """The same definition with plain text of the same JSON length in each place (data-size
    decisions, such as sharing a big schema between scripts, then come out the same)."""

    def plain(i: int) -> str:
        hostile = f"{HOSTILE[(i + shift) % len(HOSTILE)]} #{i}"
        return f"plain text {i}".ljust(len(json.dumps(hostile)) - 2, "x")

    return _without_none(definition(strings(plain)))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def convert(document: dict[str, Any]) -> dict[str, Any]:
    result = convert_document(document, Settings(), source="hostile.yaml")
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert schema_errors(result.collection) == []
    return result.collection


def scripts(collection: dict[str, Any]) -> list[str]:
    """Every script as Postman runs it: its `exec` lines joined with newlines."""

    def events(node: dict[str, Any]) -> Iterator[str]:
        for event in node.get("event", []):
            yield "\n".join(event["script"]["exec"])
        for item in node.get("item", []):
            yield from events(item)

    return list(events(collection))


def js_shapes(texts: list[str]) -> list[dict[str, str]]:
    if not ACORN.is_dir() or shutil.which("node") is None:
        require_newman()  # the same `npm ci` installs acorn: skips locally, fails on CI without it
        pytest.fail("acorn is missing from node_modules: run `npm ci`")
    completed = subprocess.run(
        ["node", str(REPO_ROOT / "tests" / "support" / "js_shape.js")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(completed.stdout))


@pytest.mark.parametrize("shift", range(len(HOSTILE)))
def test_hostile_text_stays_inside_string_literals(shift: int) -> None:
    hostile, plain = convert(hostile_definition(shift)), convert(plain_definition(shift))
    hostile_scripts, plain_scripts = scripts(hostile), scripts(plain)
    # collection (pre-request, test), token (both), GET, POST
    assert len(hostile_scripts) == len(plain_scripts) == 6
    hostile_shapes, plain_shapes = js_shapes(hostile_scripts), js_shapes(plain_scripts)
    for number, (got, expected) in enumerate(zip(hostile_shapes, plain_shapes, strict=True)):
        assert "error" not in got, (got, hostile_scripts[number])
        assert got == expected, (
            f"script {number} does more than its template says:\n{hostile_scripts[number]}"
        )
    every_line = [line for text in hostile_scripts for line in text.split("\n")]
    # escaped, never raw
    assert not any(ch in line for line in every_line for ch in "\u2028\u2029\r")
    shared = [v["value"] for v in hostile["variable"] if v["key"] == "contract_schemas"]
    # data the scripts JSON.parse, not code
    assert all(isinstance(json.loads(text), dict) for text in shared)
    reached = {int(n) for n in re.findall(r"#(\d+)", "\n".join(hostile_scripts + shared))}
    assert {
        0,
        1,
        2,
        3,
        4,
    } <= reached  # enum values and property names did reach the tests (as data)


def resolved_fields(request: dict[str, Any]) -> Iterator[str]:
    """The request texts in which Postman replaces `{{variables}}` before sending."""
    url = request["url"]
    yield url["raw"]
    for entry in [*url.get("query", []), *url.get("variable", []), *request.get("header", [])]:
        yield entry["key"]
        yield str(entry.get("value", ""))
    body = request.get("body", {})
    yield body.get("raw", "")
    for entry in body.get("urlencoded", []) + body.get("formdata", []):
        yield entry["key"]
        yield str(entry.get("value", ""))


@pytest.mark.parametrize("shift", range(len(HOSTILE)))
def test_requests_never_refer_to_credential_variables(shift: int) -> None:
    collection = convert(hostile_definition(shift))
    requests = [
        item for item in iter_requests(collection["item"]) if item["name"] != "Get Access Token"
    ]
    assert {item["request"]["method"] for item in requests} == {"POST", "GET"}
    sent = [text for item in requests for text in resolved_fields(item["request"])]
    assert not any(re.search(r"\{\{\s*(client_secret|access_token)", text) for text in sent), sent
    assert any("{{baseUrl}}" in text for text in sent)
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["tokenUrl"] == "https://login.example.test/token"
    assert variables["client_secret"] == variables["access_token"] == ""


def test_credential_references_in_the_definition_are_warned_about() -> None:
    result = convert_document(hostile_definition(), Settings(), source="hostile.yaml")
    warned = {d.pointer for d in result.diagnostics if d.code == "secret-in-spec"}
    assert "/info/description" in warned  # text #6 of the rotation: "{{client_secret}} {{baseUrl}}"
    assert all(
        "credential variable" in d.message for d in result.diagnostics if d.code == "secret-in-spec"
    )


def test_hostile_collection_runs_in_newman() -> None:
    require_newman()
    collection = convert(hostile_definition())
    with Gateway() as gateway:
        run = run_newman(
            collection,
            env_vars={
                "baseUrl": gateway.url,
                "tokenUrl": gateway.token_url,
                "client_id": "test-client",
                "client_secret": "test-secret",
            },
        )
    assert run.script_errors() == [], run.describe()
    assert run.request_errors() == [], run.describe()
    names = {name for name, _, _, _ in run.assertions()}
    assert len(names) == 3  # Get Access Token and both API requests ran their tests
    assert "pwned" not in json.dumps(run.run.get("environment", {})) + json.dumps(
        run.run.get("globals", {})
    )
