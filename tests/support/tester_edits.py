"""Scripted tester edits to a generated collection, as a tester makes them in Postman
(tests/acceptance/test_absorb.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PASSING_TEST = (
    'pm.test("tester: answered", function () { pm.expect(pm.response.code).to.be.a("number"); });'
)
FAILING_TEST = 'pm.test("tester: deliberately failing", function () { pm.expect(1).to.eql(2); });'
ADDED_REQUEST = "Tester workflow step"
ADDED_EXAMPLE = "Tester saved example"
ADDED_VARIABLE = ("tester_tenant", "acme")
TYPED_SECRET = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0ZXIifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@dataclass
class Edits:
    """Which request got which edit: request names (as generated) and what was set."""

    tests: list[str] = field(default_factory=list)
    # (request, where: query/path, key, new value)
    parameter: tuple[str, str, str, str] | None = None
    disabled_header: tuple[str, str] | None = None  # (request, header key)
    body: tuple[str, str] | None = None  # (request, new raw body)
    example: str | None = None  # request
    folder: str | None = None  # folder the added request went into


def requests(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if "request" in item:
            yield item
        yield from requests(item.get("item", []))


def edit(collection: dict[str, Any]) -> tuple[dict[str, Any], Edits]:
    """A copy of `collection` with a realistic set of tester edits, and where each went."""
    edited = copy.deepcopy(collection)
    done = Edits()
    operations = [r for r in requests(edited["item"]) if r["name"] != "Get Access Token"]
    for request in operations[:2]:
        script = next(
            e
            for e in request.setdefault("event", [{"listen": "test", "script": {"exec": []}}])
            if e["listen"] == "test"
        )["script"]
        script["exec"] = [*script["exec"], PASSING_TEST, FAILING_TEST]
        done.tests.append(request["name"])
    for request in operations:
        url = request["request"]["url"]
        where = "query" if url.get("query") else "variable" if url.get("variable") else None
        if where is not None and done.parameter is None:
            entry = url[where][0]
            entry["value"] = "tester-value"
            done.parameter = (
                request["name"],
                "query" if where == "query" else "path",
                entry["key"],
                "tester-value",
            )
        headers = request["request"].get("header", [])
        accept = next((h for h in headers if h["key"] == "Accept" and not h.get("disabled")), None)
        if accept is not None and done.disabled_header is None:
            accept["disabled"] = True
            done.disabled_header = (request["name"], "Accept")
        body = request["request"].get("body")
        if body and body.get("mode") == "raw" and done.body is None:
            body["raw"] = '{"tester": "replaced body"}'
            done.body = (request["name"], body["raw"])
    target = operations[-1]
    target.setdefault("response", []).append(
        {
            "name": ADDED_EXAMPLE,
            "code": 200,
            "status": "OK",
            "header": [{"key": "Content-Type", "value": "application/json"}],
            "body": '{"saved": "by a tester"}',
            "originalRequest": {},
        }
    )
    done.example = target["name"]
    folder = next((i for i in edited["item"] if "item" in i), None)
    added = {
        "name": ADDED_REQUEST,
        "request": {
            "method": "GET",
            "url": "{{baseUrl}}/tester/workflow",
            "header": [{"key": "Authorization", "value": TYPED_SECRET}],
        },
        "event": [{"listen": "test", "script": {"exec": [PASSING_TEST]}}],
    }
    (folder["item"] if folder is not None else edited["item"]).append(added)
    done.folder = folder["name"] if folder is not None else None
    edited.setdefault("variable", []).append({"key": ADDED_VARIABLE[0], "value": ADDED_VARIABLE[1]})
    for variable in edited["variable"]:
        if variable["key"] == "client_secret":
            variable["value"] = "typed-in-secret-value"
    return edited, done
