"""Verdicts a tester can trust: a generated request is the happy path, so its contract tests expect
a success.

newman runs every KPN corpus collection against a server that answers 500 to everything and one that
answers 401 to everything (tokens come from the local gateway): every run fails, every request with
one message that says why. A request that gets no answer is reported once, by newman, with no tests
of ours; a request script without its collection's machinery says so; a tester's own lines after the
generated ones get the verdict.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpn_collections.auth.token_item import GET_ACCESS_TOKEN

from ..conftest import CORPUS, FIXTURES, corpus_specs, require_corpus
from ..e2e.test_contract import convert, own_token_paths, run_against
from ..e2e.test_token_flow import item_executions
from ..helpers import iter_requests
from ..support.answers import serve
from ..support.gateway import Gateway
from ..support.newman import NewmanRun, require_newman

CONTRACT_FIXTURE = FIXTURES / "oas30" / "contract" / "input.yaml"


JSON = {"Content-Type": "application/json"}
BROKEN = {"*": (500, JSON, {"error": "internal"})}
REFUSING = {"*": (401, JSON, {"error": "unauthorized"})}


def api_executions(run: NewmanRun) -> list[dict[str, Any]]:
    return [e for e in item_executions(run) if e["item"]["name"] != GET_ACCESS_TOKEN]


def assertions(execution: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(test name, failure message or None) of one request's tests."""
    return [
        (a["assertion"], (a.get("error") or {}).get("message"))
        for a in execution.get("assertions") or []
        if not a.get("skipped")
    ]


# --- a server that answers 500 or 401 to everything fails every corpus collection
# --------------------------


@pytest.mark.parametrize("mode", ["500", "401"])
@pytest.mark.parametrize(
    "spec", corpus_specs() or [CORPUS / "missing-corpus.yml"], ids=lambda p: p.name
)
def test_a_broken_or_refusing_server_fails_every_request(spec: Path, mode: str) -> None:
    """Today's failure was a green run: 39 passing assertions against a server that answered 500 to
    all."""
    require_corpus()
    require_newman()
    collection = convert(spec)
    with (
        Gateway(own_token_paths=own_token_paths(collection)) as gateway,
        serve(BROKEN if mode == "500" else REFUSING) as url,
    ):
        run = run_against(url, collection, gateway)
    assert run.returncode != 0, run.describe()
    assert run.script_errors() == [] and run.request_errors() == [], run.describe()
    token = [e for e in item_executions(run) if e["item"]["name"] == GET_ACCESS_TOKEN]
    assert all(message is None for e in token for _, message in assertions(e)), run.describe()
    executions = api_executions(run)
    assert len(executions) == len(list(iter_requests(collection["item"]))) - len(token)
    for execution in executions:
        results = assertions(execution)
        name = execution["item"]["name"]
        if mode == "401":  # one test, failing, with what to check; no green ticks beside it
            assert len(results) == 1, (name, results)
            test, message = results[0]
            assert test.endswith("-> 401: status is a success"), (name, test)
            assert message is not None and "got 401 Unauthorized: " in message, (name, message)
            assert "credentials refused: check " in message, (name, message)
            continue
        failed = [(test, message) for test, message in results if message is not None]
        status = [
            (test, message)
            for test, message in failed
            if test.endswith(("status is a success", "status is documented"))
        ]
        assert len(status) == 1, (name, results)
        test, message = status[0]
        assert message is not None, (name, results)
        if test.endswith("status is a success"):  # documented: still checked against its schema
            assert "got 500 Internal Server Error (documented error" in message, (name, message)
        else:
            assert message.startswith("HTTP 500 is not documented (documented: "), (name, message)
            assert len(results) == 1, (name, results)


# --- no answer, no machinery, a tester's own lines
# ------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _only(collection: dict[str, Any], *names: str) -> dict[str, Any]:
    collection["item"] = [i for i in collection["item"] if i["name"] in (GET_ACCESS_TOKEN, *names)]
    return collection


def test_a_request_without_an_answer_is_reported_once_by_newman_with_no_tests() -> None:
    require_newman()
    collection = _only(convert(CONTRACT_FIXTURE), "Get a category tree")
    with Gateway() as gateway:
        run = run_against(f"http://127.0.0.1:{_closed_port()}", collection, gateway)
    assert run.returncode != 0
    (execution,) = api_executions(run)
    assert assertions(execution) == [], run.describe()
    errors = run.request_errors()
    assert len(errors) == 1 and "ECONNREFUSED" in errors[0], run.describe()
    assert run.script_errors() == [] and "undefined" not in run.stdout, run.describe()


def test_a_request_copied_without_its_collection_script_says_what_is_missing() -> None:
    require_newman()
    collection = _only(convert(CONTRACT_FIXTURE), "Get a category tree")
    collection["event"] = [e for e in collection["event"] if e["listen"] != "test"]
    with Gateway() as gateway, serve({"*": (200, JSON, {})}) as url:
        run = run_against(url, collection, gateway)
    errors = run.script_errors()
    assert len(errors) == 1, run.describe()
    assert "kpnContract is not defined" in errors[0]


OWN_TESTS = [
    'pm.test("own: the verdict is there", function () {',
    "    pm.expect(contract.code).to.equal(pm.response.code);",
    "    if (contract.success) {",
    '        pm.expect(contract.status).to.equal("200");',
    "        pm.expect(contract.body.id).to.equal(7);",
    "    } else {",
    '        pm.expect(contract.status).to.equal("503");',
    '        pm.expect(contract.response.description).to.equal("Down for maintenance");',
    '        pm.expect(contract.body.title).to.equal("Down");',
    "    }",
    "});",
]


@pytest.mark.parametrize("status", [200, 503])
def test_a_testers_own_lines_after_the_generated_ones_get_the_verdict(status: int) -> None:
    require_newman()
    collection = _only(convert(CONTRACT_FIXTURE), "Get a category tree")
    item = next(i for i in collection["item"] if i["name"] == "Get a category tree")
    item["event"][0]["script"]["exec"] += OWN_TESTS
    body = (
        {"id": 7, "name": "Phones", "parent": None, "children": []}
        if status == 200
        else {"title": "Down", "status": 503}
    )
    with Gateway() as gateway, serve({"*": (status, {**JSON, "X-Request-Id": "r1"}, body)}) as url:
        run = run_against(url, collection, gateway)
    assert run.script_errors() == [], run.describe()
    results = dict(assertions(api_executions(run)[0]))
    assert results["own: the verdict is there"] is None, run.describe()
    assert (run.returncode == 0) == (status == 200), run.describe()


# --- what counts as a success: 2xx, else the documented 3xx; any 2xx when only `default` is
# documented ------

SUCCESS_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Successes", "version": "1"},
    "servers": [{"url": "https://api.example.com"}],
    "paths": {
        "/moved": {
            "get": {
                "operationId": "moved",
                "responses": {
                    "303": {"description": "See the report"},
                    "404": {"description": "No report yet"},
                },
            }
        },
        "/anything": {
            "get": {
                "operationId": "anything",
                "responses": {"default": {"description": "Whatever the server says"}},
            }
        },
        "/created": {
            "post": {
                "operationId": "create",
                "responses": {
                    "201": {"description": "Created"},
                    "default": {"description": "An error"},
                },
            }
        },
        "/alike": {
            "get": {
                "operationId": "alike",
                "responses": {  # the script groups 400/404/503 under one key
                    "200": {"description": "OK"},
                    "400": {"description": "Refused"},
                    "404": {"description": "Refused"},
                    "503": {"description": "Refused"},
                },
            }
        },
    },
}


@pytest.mark.parametrize(
    ("path", "status", "verdict"),
    [
        ("/moved", 303, None),
        (
            "/moved",
            404,
            "expected a success (303), got 404 Not Found (documented error: No report yet)",
        ),
        ("/anything", 204, None),
        (
            "/anything",
            500,
            (
                "expected a success (2xx), got 500 Internal Server Error (documented error:"
                " Whatever the server says)"
            ),
        ),
        ("/created", 201, None),
        ("/created", 200, None),  # a 2xx the `default` covers
        (
            "/created",
            409,
            "expected a success (201), got 409 Conflict (documented error: An error)",
        ),
        ("/alike", 404, "expected a success (200), got 404 Not Found (documented error: Refused)"),
        (
            "/alike",
            503,
            "expected a success (200), got 503 Service Unavailable (documented error: Refused)",
        ),
        ("/alike", 409, "HTTP 409 is not documented (documented: 200, 400, 404, 503)"),
    ],
)
def test_the_expected_success_is_a_2xx_or_the_only_documented_3xx(
    path: str, status: int, verdict: str | None, tmp_path: Path
) -> None:
    require_newman()
    spec = tmp_path / "successes.yaml"
    spec.write_text(yaml.safe_dump(SUCCESS_SPEC), encoding="utf-8")
    collection = convert(spec)
    collection["item"] = [
        i for i in iter_requests(collection["item"]) if path in json.dumps(i["request"]["url"])
    ]
    with Gateway() as gateway, serve({"*": (status, {"Location": "/elsewhere"}, "")}) as url:
        run = run_against(url, collection, gateway)
    assert run.script_errors() == [], run.describe()
    (execution,) = api_executions(run)
    failed = [message for _, message in assertions(execution) if message is not None]
    assert failed == ([verdict] if verdict else []), run.describe()


def test_statuses_documented_alike_share_one_key_in_the_request_script(tmp_path: Path) -> None:
    spec = tmp_path / "successes.yaml"
    spec.write_text(yaml.safe_dump(SUCCESS_SPEC), encoding="utf-8")
    item = next(
        i
        for i in iter_requests(convert(spec)["item"])
        if "alike" in json.dumps(i["request"]["url"])
    )
    script = "\n".join(item["event"][0]["script"]["exec"])
    assert '"400 404 503": {"description": "Refused"}' in script
    assert '"200": {}' in script


def test_the_readme_shows_a_requests_tests_tab_as_it_is_generated() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    collection = convert(CONTRACT_FIXTURE)
    item = next(i for i in iter_requests(collection["item"]) if i["name"] == "Get a category tree")
    script = "\n".join(item["event"][0]["script"]["exec"])
    assert f"```js\n{script}\n```" in readme


@pytest.mark.parametrize(
    ("status", "description", "quoted"),
    [
        ("200", "The category", ""),  # a success needs no message
        (
            "404",
            "Not found.",
            "",
        ),  # says no more than the reason phrase, which the message shows anyway
        ("500", "server error", ""),
        ("404", "No category with this id", "No category with this id"),
        ("4XX", "A client error\n\nSee the problem type.", "A client error"),
        ("default", "  Unexpected   error ", "Unexpected error"),
        ("503", "x" * 150, "x" * 97 + "..."),
        (
            "401",
            (
                "Token"
                " eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"  # noqa: E501
            ),
            "",
        ),  # a credential never goes into a script
    ],
)
def test_a_documented_error_is_quoted_by_its_first_line(
    status: str, description: str, quoted: str
) -> None:
    from kpn_collections.build.contract_tests import error_description
    from kpn_collections.model import Response

    assert error_description(Response(status, description)) == quoted
