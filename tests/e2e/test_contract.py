"""Contract tests (`--tests contract`), proven against Prism, a mock server nobody here wrote.

Prism serves each spec (its examples, or seeded random data with --dynamic), checks every request we
send against the spec, and says in `sl-violations` when its own answer breaks the spec. newman runs
the converted collection against it, with the token from the local KPN-like gateway. The measure:
Prism rejects no request, and our tests fail on exactly the answers Prism flags. A local server that
breaks the contract one way at a time shows that the matching test fails and only that one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kpn_collections import ConversionResult, Settings, convert_file
from kpn_collections.auth.token_item import GET_ACCESS_TOKEN
from kpn_collections.build.contract_tests import CONTRACT_SCHEMAS
from kpn_collections.build.parts import stable_id
from kpn_collections.diagnostics import pointer_unescape
from kpn_collections.pipeline import bundle_file

from ..conftest import CORPUS, FIXTURES, corpus_specs, require_corpus
from ..e2e.test_token_flow import item_executions
from ..helpers import iter_requests
from ..support.answers import serve
from ..support.gateway import Gateway
from ..support.newman import NewmanRun, require_newman, response_text, run_newman
from ..support.prism import (
    PRISM,
    SEED,
    _free_port,
    prism_mock,
    request_rejected,
    response_violations,
    run_prism,
)
from ..support.prism_copies import ADAPTATIONS, FIXTURE_ADAPTATIONS, Adaptation, prism_spec

FIXTURE_SPECS = sorted(p for p in FIXTURES.glob("*/*/input.*") if p.parent.parent.name != "broken")
CREDENTIALS = {"client_id": "test-client", "client_secret": "test-secret"}
PRISM_ERROR = "https://stoplight.io/prism/errors#"
_UNSET = {"access_token", "access_token_expires_at", CONTRACT_SCHEMAS}


def convert(spec: Path, **settings: Any) -> dict[str, Any]:
    result = convert_file(spec, Settings(**settings))
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    return result.collection


def variables(collection: dict[str, Any]) -> dict[str, str]:
    return {v["key"]: str(v["value"]) for v in collection.get("variable", [])}


def script_lines(collection: dict[str, Any]) -> list[list[str]]:
    """The test scripts of the API requests, as line lists."""
    return [
        event["script"]["exec"]
        for item in iter_requests(collection["item"])
        if item["name"] != GET_ACCESS_TOKEN
        for event in item.get("event", [])
        if event["listen"] == "test"
    ]


def run_against(server_url: str, collection: dict[str, Any], gateway: Gateway) -> NewmanRun:
    """newman with baseUrl at the server, tokenUrl at the gateway, and every credential variable
    filled."""
    known = variables(collection)
    env = {"baseUrl": server_url, **CREDENTIALS}
    env.update(
        {k: "test-value" for k, v in known.items() if v == "" and k not in _UNSET and k not in env}
    )
    if "tokenUrl" in known:
        own = known["tokenUrl"].removeprefix("{{baseUrl}}")
        env["tokenUrl"] = gateway.url + own if own != known["tokenUrl"] else gateway.token_url
    return run_newman(collection, env_vars=env, timeout=600)


def own_token_paths(collection: dict[str, Any]) -> tuple[str, ...]:
    url = variables(collection).get("tokenUrl", "")
    return (url.removeprefix("{{baseUrl}}"),) if url.startswith("{{baseUrl}}") else ()


NO_VALID_REQUEST = ("no-valid-request", "unused-path-parameter")
"""The warnings that say no request to an operation can be valid (located at the operation)."""


def hopeless_requests(result: ConversionResult) -> set[str]:
    """The ids of the requests the converter warns that no request to their operation can be
    valid."""
    assert result.collection is not None
    collection_id = result.collection["info"]["_postman_id"]
    found = set()
    for warning in result.warnings:
        tokens = [pointer_unescape(t) for t in warning.pointer.split("/")[1:]]
        if warning.code in NO_VALID_REQUEST and len(tokens) == 3 and tokens[0] == "paths":
            found.add(stable_id(collection_id, tokens[2], tokens[1]))
    return found


def disagreements(run: NewmanRun, hopeless: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every request where Prism and the contract tests do not tell the same story. Prism rejects no
    request, except each of the `hopeless` ones (which it must reject: the converter's warning is
    true)."""
    problems = [f"script error: {e}" for e in run.script_errors()] + [
        f"no answer: {e}" for e in run.request_errors()
    ]
    for execution in item_executions(run):
        name = execution["item"]["name"]
        if name == GET_ACCESS_TOKEN:
            continue
        code = execution["response"]["code"]
        body = response_text(execution)
        rejected = request_rejected(execution, body)
        if execution["item"]["id"] in hopeless:
            if not rejected:
                problems.append(
                    f"{name}: the converter warns that no request can be valid, Prism accepted it"
                )
            continue
        if rejected:
            problems.append(
                f"{name}: Prism rejected the request ({code}): {json.dumps(rejected)[:600]}"
            )
            continue
        if PRISM_ERROR in body:
            problems.append(f"{name}: Prism could not answer from the spec ({code}): {body[:300]}")
            continue
        assertions = [a for a in execution.get("assertions") or [] if not a.get("skipped")]
        failed = [
            f"{a['assertion']}: {a['error']['message'][:300]}" for a in assertions if a.get("error")
        ]
        flagged = response_violations(execution)
        if not assertions:
            problems.append(f"{name}: no contract test ran")
        elif bool(failed) != bool(flagged):
            problems.append(
                f"{name} ({code}): tests failed {failed}, Prism flagged {json.dumps(flagged)[:600]}"
            )
    return problems


def prism_run(
    spec: Path, prism_file: Path, *, dynamic: bool, adaptation: Adaptation | None = None
) -> tuple[NewmanRun, list[str]]:
    """newman against Prism serving `prism_file`; an `adaptation` that repairs a defect of the spec
    in Prism's copy (see prism_copies) makes the requests the converter warns about valid there."""
    result = convert_file(spec)
    collection = result.collection
    assert collection is not None, [d.format() for d in result.diagnostics]
    with (
        prism_mock(prism_file, dynamic=dynamic) as prism,
        Gateway(own_token_paths=own_token_paths(collection)) as gw,
    ):
        run = run_against(prism.url, collection, gw)
    assert len(item_executions(run)) == len(list(iter_requests(collection["item"]))), run.describe()
    repaired = adaptation is not None and adaptation.warning is not None
    return run, disagreements(run, set() if repaired else hopeless_requests(result))


# --- Prism: fixtures and the KPN corpus, with static examples and with generated data
# --------------------


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize(
    "spec", FIXTURE_SPECS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}"
)
def test_fixture_contract_tests_agree_with_prism(spec: Path, dynamic: bool, tmp_path: Path) -> None:
    require_newman()
    # one self-contained file, whatever the fixture refers to
    bundled = bundle_file(spec, output_format="json")
    assert bundled.text is not None
    adaptation = FIXTURE_ADAPTATIONS.get(f"{spec.parent.parent.name}/{spec.parent.name}")
    prism_file = prism_spec(spec, tmp_path, json.loads(bundled.text), adaptation)
    _, problems = prism_run(spec, prism_file, dynamic=dynamic, adaptation=adaptation)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize(
    "spec", corpus_specs() or [CORPUS / "missing-corpus.yml"], ids=lambda p: p.name
)
def test_corpus_contract_tests_agree_with_prism(spec: Path, dynamic: bool, tmp_path: Path) -> None:
    require_corpus()
    require_newman()
    _, problems = prism_run(
        spec, prism_spec(spec, tmp_path), dynamic=dynamic, adaptation=ADAPTATIONS.get(spec.name)
    )
    assert problems == [], "\n".join(problems)


def test_the_prism_host_answers_as_prism_mock_does() -> None:
    """The tests' Prism servers (one node process per test process, tests/support/prism_host.js)
    answer every request as a `prism mock` process of its own does: status, headers (but the date),
    body and violations; one after the other from the same host, static and seeded-dynamic, so that
    nothing one server leaves behind reaches the next."""
    require_corpus()
    require_newman()
    cases = [
        (FIXTURES / "oas30" / "contract" / "input.yaml", False),
        (CORPUS / "kpn-tv-guide-openapi.yml", True),
        (FIXTURES / "oas30" / "contract" / "input.yaml", True),
        (CORPUS / "kpn-tv-guide-openapi.yml", False),
    ]
    for spec, dynamic in cases:
        collection = convert(spec)
        args = ["mock", str(spec), "--host", "127.0.0.1", "--verboseLevel", "info"]
        args += ["--dynamic", "--seed", SEED] if dynamic else []
        answers = []
        for served in (
            prism_mock(spec, dynamic=dynamic),
            run_prism([str(PRISM), *args, "--port", str(_free_port())]),
        ):
            with served as prism, Gateway(own_token_paths=own_token_paths(collection)) as gateway:
                run = run_against(prism.url, collection, gateway)
            answers.append(
                [
                    (
                        e["item"]["name"],
                        e["response"]["code"],
                        sorted(
                            (h["key"].lower(), h["value"])
                            for h in e["response"].get("header") or []
                            if h["key"].lower() != "date"
                        ),
                        response_text(e),
                    )
                    for e in item_executions(run)
                    if e["item"]["name"] != GET_ACCESS_TOKEN
                ]
            )
        assert len(answers[0]) == len(list(iter_requests(collection["item"]))) - 1
        assert answers[0] == answers[1], (spec.name, dynamic)


def test_prism_flags_the_tv_guide_example_and_so_do_the_tests() -> None:
    """kpn-tv-guide's own example breaks its schema (`actions[].key` is an array where a string is
    due)."""
    require_corpus()
    require_newman()
    spec = CORPUS / "kpn-tv-guide-openapi.yml"
    run, problems = prism_run(spec, spec, dynamic=False)
    assert problems == []
    flagged = [e for e in item_executions(run) if response_violations(e)]
    assert flagged, "Prism no longer flags the tv-guide examples"
    for execution in flagged:
        failed = [a for a in execution["assertions"] if a.get("error")]
        assert [a["assertion"].rsplit(": ", 1)[-1] for a in failed] == [
            "body matches the application/json schema"
        ]
        message = failed[0]["error"]["message"]
        assert message == "body.containers[0].actions[0].key should be string, got an array"
        assert execution["item"]["name"] and " -> 200" in failed[0]["assertion"]


def test_adapted_specs_are_the_ones_prism_cannot_serve_and_defects_are_reported() -> None:
    """Each adaptation of a spec for Prism still applies, and spec defects are ones the converter
    warns about."""
    require_corpus()
    names = {p.name for p in corpus_specs()}
    assert set(ADAPTATIONS) <= names
    for name, adaptation in ADAPTATIONS.items():
        if adaptation.warning is not None:
            codes = {d.code for d in convert_file(CORPUS / name).warnings}
            assert adaptation.warning in codes, (name, codes)


# --- negative proof: a server that breaks the contract one way at a time
# ----------------------------------

CONTRACT_FIXTURE = FIXTURES / "oas30" / "contract" / "input.yaml"
GOOD_CATEGORY = {
    "id": 7,
    "name": "Phones",
    "parent": None,
    "updatedAt": "2024-01-01T12:00:00Z",
    "children": [{"id": 8, "name": "Smartphones", "parent": 7, "children": []}],
}
LABEL = "GET /categories/{categoryId} (getCategory)"
STATUS = LABEL + " -> {code}: status is documented"
SUCCESS = LABEL + " -> {code}: status is a success"
CONTENT_TYPE = LABEL + " -> {code}: Content-Type is documented"
BODY = LABEL + " -> {code}: body matches the application/json schema"
PROBLEM_BODY = LABEL + " -> {code}: body matches the application/problem+json schema"
HEADER = LABEL + " -> {code}: header X-Request-Id is present"
JSON_HEADERS = {"Content-Type": "application/json", "X-Request-Id": "r1"}
CREDENTIALS_REFUSED = (
    "expected a success (200), got {code} {reason}: credentials refused: check client_id, "
    "client_secret and the answer to Get Access Token"
)
NOT_FOUND = "expected a success (200), got 404 Not Found (documented error: A client error)"
MUTATIONS: dict[str, tuple[int, dict[str, str], Any, dict[str, str]]] = {
    # mutation: (status, headers, body, {each test that must fail: its whole message})
    "valid": (200, JSON_HEADERS, GOOD_CATEGORY, {}),
    "wrong type": (
        200,
        JSON_HEADERS,
        {**GOOD_CATEGORY, "children": [{**GOOD_CATEGORY["children"][0], "id": "eight"}]},
        {BODY: 'body.children[0].id should be integer, got "eight"'},
    ),
    "missing required property": (
        200,
        JSON_HEADERS,
        {k: v for k, v in GOOD_CATEGORY.items() if k != "name"},
        {BODY: "body.name is missing (required)"},
    ),
    "undocumented status": (
        302,
        JSON_HEADERS,
        GOOD_CATEGORY,
        {STATUS: "HTTP 302 is not documented (documented: 200, 503, 4XX)"},
    ),
    "wrong content type": (
        200,
        {"Content-Type": "text/html", "X-Request-Id": "r1"},
        GOOD_CATEGORY,
        {CONTENT_TYPE: 'Content-Type "text/html" is not documented (documented: application/json)'},
    ),
    "missing required header": (
        200,
        {"Content-Type": "application/json"},
        GOOD_CATEGORY,
        {HEADER: "the required response header X-Request-Id is missing"},
    ),
    "null where not nullable": (
        200,
        JSON_HEADERS,
        {**GOOD_CATEGORY, "name": None},
        {BODY: "body.name should be string, got null"},
    ),
    "int32 out of range": (
        200,
        JSON_HEADERS,
        {**GOOD_CATEGORY, "id": 2**31},
        {BODY: "body.id should be <= 2147483647, got 2147483648"},
    ),
    "several problems, each once": (
        200,
        JSON_HEADERS,
        {
            **GOOD_CATEGORY,
            "id": "x",
            "name": None,
            "children": [
                {**GOOD_CATEGORY["children"][0], "id": "eight"},
                {**GOOD_CATEGORY["children"][0], "id": "eight"},
            ],
        },
        {
            BODY: (
                'body.id should be integer, got "x"\nbody.name should be string, got null\n'
                'body.children[0].id should be integer, got "eight"\n'
                'body.children[1].id should be integer, got "eight"'
            )
        },
    ),
    "4XX with the documented problem type": (
        404,
        {"Content-Type": "application/problem+json"},
        {"title": "Not found", "status": 404},
        {SUCCESS: NOT_FOUND},
    ),
    "4XX with a broken problem": (
        404,
        {"Content-Type": "application/problem+json"},
        {"title": "Not found"},
        {SUCCESS: NOT_FOUND, PROBLEM_BODY: "body.status is missing (required)"},
    ),
    "exact error status": (
        503,
        {"Content-Type": "application/json"},
        {"title": "Down", "status": 503},
        {
            SUCCESS: (
                "expected a success (200), got 503 Service Unavailable "
                "(documented error: Down for maintenance)"
            )
        },
    ),
    "401 Unauthorized": (
        401,
        {"Content-Type": "application/json"},
        {"title": "Unauthorized", "status": 401},
        {SUCCESS: CREDENTIALS_REFUSED.replace("{reason}", "Unauthorized")},
    ),
    "403 Forbidden": (
        403,
        {},
        "",
        {
            SUCCESS: (
                CREDENTIALS_REFUSED.replace("{reason}", "Forbidden").replace(
                    "credentials refused", "not allowed for these credentials"
                )
            )
        },
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_breaking_the_contract_fails_exactly_the_matching_test(mutation: str) -> None:
    """Each failing test says once what is wrong, with nothing appended (no "expected null to be
    truthy"); 401/403 fail with a hint about the credentials and check nothing else."""
    require_newman()
    status, headers, body, must_fail = MUTATIONS[mutation]
    collection = convert(CONTRACT_FIXTURE)
    collection["item"] = [
        i for i in collection["item"] if i["name"] in (GET_ACCESS_TOKEN, "Get a category tree")
    ]
    with Gateway() as gateway, serve({"*": (status, headers, json.dumps(body))}) as url:
        run = run_against(url, collection, gateway)
    assert run.script_errors() == [], run.describe()
    results = {
        name: (passed, message)
        for item, name, passed, message in run.assertions()
        if item == "Get a category tree"
    }
    assert results, run.describe()
    failed = {name: message for name, (passed, message) in results.items() if not passed}
    assert failed == {
        t.replace("{code}", str(status)): m.replace("{code}", str(status))
        for t, m in must_fail.items()
    }, run.describe()
    if status in (401, 403):
        assert list(results) == [SUCCESS.replace("{code}", str(status))]


# --- what the collection carries
# -----------------------------------------------------------------------


def test_tests_option_none_smoke_contract() -> None:
    contract = convert(CONTRACT_FIXTURE)
    smoke = convert(CONTRACT_FIXTURE, tests="smoke")
    none = convert(CONTRACT_FIXTURE, tests="none")
    assert CONTRACT_SCHEMAS in variables(contract)
    assert CONTRACT_SCHEMAS not in variables(smoke) and CONTRACT_SCHEMAS not in variables(none)
    assert script_lines(none) == []
    assert len(script_lines(smoke)) == len(script_lines(contract)) == 3
    smoke_text = "\n".join("\n".join(s) for s in script_lines(smoke))
    contract_text = "\n".join("\n".join(s) for s in script_lines(contract))
    assert (
        '"application/json": null' in smoke_text
        and '"headers"' not in smoke_text
        and "kpnContract({" in smoke_text
    )
    assert (
        '"#/definitions/Category"' in contract_text
        and '"headers": ["X-Request-Id"]' in contract_text
    )


def test_shared_schemas_are_defined_once_and_recursion_stays_finite() -> None:
    collection = convert(CONTRACT_FIXTURE)
    definitions = json.loads(variables(collection)[CONTRACT_SCHEMAS])
    category = definitions["Category"]
    assert category["properties"]["children"]["items"] == {"$ref": "#/definitions/Category"}
    assert "secret" not in category["properties"]  # writeOnly: never in a response
    assert category["properties"]["parent"]["type"] == ["integer", "null"]  # nullable
    scripts = "\n".join("\n".join(s) for s in script_lines(collection))
    assert (
        '"#/definitions/Category"' in scripts and '"minLength": 1' not in scripts
    )  # referenced, not copied


def test_corpus_collections_carry_contract_tests_on_every_request() -> None:
    require_corpus()
    for spec in corpus_specs():
        collection = convert(spec)
        requests = [i for i in iter_requests(collection["item"]) if i["name"] != GET_ACCESS_TOKEN]
        assert all(any(e["listen"] == "test" for e in i.get("event", [])) for i in requests), (
            spec.name
        )


@pytest.mark.parametrize("spec", [*FIXTURE_SPECS, *(corpus_specs()[:3])], ids=lambda p: p.name)
def test_contract_scripts_are_valid_javascript(spec: Path, tmp_path: Path) -> None:
    require_newman()  # node comes with it
    collection = convert(spec)
    for index, lines in enumerate(script_lines(collection)):
        script = tmp_path / f"script{index}.js"
        script.write_text("\n".join(lines), encoding="utf-8")
        checked = subprocess.run(
            ["node", "--check", str(script)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stderr


def test_tests_option_on_the_command_line_and_in_the_settings_file(tmp_path: Path) -> None:
    from ..acceptance.test_cli import run

    smoke = run("convert", str(CONTRACT_FIXTURE), "-o", "-", "--tests", "smoke", "--no-cache")
    assert smoke.returncode == 0, smoke.stderr
    assert '\\"application/json\\": null' in smoke.stdout and "--tests smoke" in smoke.stdout
    (tmp_path / ".kpn-collections.yaml").write_text("tests: none\n", encoding="utf-8")
    none = run("convert", str(CONTRACT_FIXTURE), "-o", "-", "--no-cache", cwd=tmp_path)
    assert none.returncode == 0, none.stderr
    assert script_lines(json.loads(none.stdout)) == []
    (tmp_path / ".kpn-collections.yaml").write_text("tests: everything\n", encoding="utf-8")
    wrong = run("convert", str(CONTRACT_FIXTURE), "-o", "-", cwd=tmp_path)
    assert wrong.returncode == 2 and "tests" in wrong.stderr


def test_an_example_only_pythons_regex_accepts_is_repaired_so_that_prism_accepts_it(
    tmp_path: Path,
) -> None:
    """`^\\d+$` does not match "12\\n" for ECMA-262, which Prism reads patterns by, though it does
    for Python's `re`: the converter judges the example as Prism does, sends a repaired value, and
    Prism accepts the request (it rejected it while examples were judged by Python's reading)."""
    require_newman()
    body = {
        "type": "object",
        "required": ["num"],
        "properties": {"num": {"type": "string", "pattern": r"^\d+$", "example": "12\n"}},
    }
    spec = tmp_path / "patterns.json"
    spec.write_text(
        json.dumps(
            {
                "openapi": "3.0.3",
                "info": {"title": "Patterns", "version": "1"},
                "servers": [{"url": "https://api-prd.kpn.com/patterns"}],
                "paths": {
                    "/numbers": {
                        "post": {
                            "operationId": "addNumber",
                            "requestBody": {
                                "required": True,
                                "content": {"application/json": {"schema": body}},
                            },
                            "responses": {
                                "201": {
                                    "description": "added",
                                    "content": {"application/json": {"example": {"num": "12"}}},
                                }
                            },
                        }
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    run, problems = prism_run(spec, spec, dynamic=False)
    assert problems == [], "\n".join(problems)
    [execution] = [e for e in item_executions(run) if e["item"]["name"] != GET_ACCESS_TOKEN]
    assert execution["response"]["code"] == 201, run.describe()
