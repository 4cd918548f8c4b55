"""Overlays: the format and its schema, loading with located errors, and `generate(spec) +
overlay`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from kpn_collections.config import ConfigError, load_config
from kpn_collections.overlay import (
    Operation,
    apply_overlay,
    conventional_overlay,
    dump_overlay,
    load_overlay,
    overlay_for,
    overlay_schema,
    spec_of_overlay,
)
from kpn_collections.pipeline import convert_file
from kpn_collections.settings import Settings

from ..acceptance.test_cli import run
from ..conftest import FIXTURES, REPO_ROOT
from ..helpers import find_request, iter_requests, schema_errors

SPEC = FIXTURES / "oas30" / "features" / "input.yaml"

FULL_OVERLAY: dict[str, Any] = {
    "kpn-collections-overlay": 1,
    "operations": {
        "getCustomer": {
            "tests": [
                'pm.test("tester: the id is echoed", () =>'
                ' pm.expect(pm.response.json().id).to.eql("42"));'
            ],
            "prerequest": ['console.log("tester prerequest");'],
            "path": {"customerId": {"value": "42"}},
            "description": "Tester note: 42 is the shared test customer.",
            "examples": [
                {
                    "name": "Tester example",
                    "code": 200,
                    "status": "OK",
                    "body": '{"id": "42"}',
                    "header": [{"key": "Content-Type", "value": "application/json"}],
                }
            ],
        },
        "GET /customers": {
            "query": {
                "limit": {"value": "5", "disabled": False},
                "q": {"disabled": True},
                "extra": {"value": "x"},
            },
            "header": {"X-Request-Id": {"disabled": True}},
        },
        "createCustomer": {
            "body": {
                "mode": "raw",
                "raw": '{"name": "Tester"}',
                "options": {"raw": {"language": "json"}},
            }
        },
    },
    "collection": {
        "variables": {"tenant": "acme"},
        "tests": ['pm.test("tester: collection-wide", () => {});'],
        "items": [
            {
                "folder": "Workflows",
                "item": {
                    "name": "Create then read",
                    "item": [
                        {
                            "name": "Read health",
                            "request": {"method": "GET", "url": "{{baseUrl}}/health"},
                        }
                    ],
                },
            },
            {
                "item": {
                    "name": "Top-level extra",
                    "request": {"method": "GET", "url": "{{baseUrl}}/health"},
                }
            },
        ],
    },
}


def overlay_checked(data: dict[str, Any]) -> dict[str, Any]:
    """The overlay, after asserting the shipped schema accepts it (every overlay the tests write
    goes here)."""
    errors = [e.message for e in Draft202012Validator(overlay_schema()).iter_errors(data)]
    assert errors == []
    return data


def spec_with_overlay(tmp_path: Path, overlay: dict[str, Any] | str) -> Path:
    spec = tmp_path / "api.yaml"
    shutil.copy(SPEC, spec)
    text = overlay if isinstance(overlay, str) else dump_overlay(overlay_checked(overlay))
    conventional_overlay(spec).write_text(text, encoding="utf-8")
    return spec


def test_schema_ships_in_the_package_and_is_valid() -> None:
    Draft202012Validator.check_schema(overlay_schema())
    overlay_checked(FULL_OVERLAY)


def test_convention_names_the_overlay_beside_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "billing.yaml"
    spec.write_text("openapi: 3.0.3\n", encoding="utf-8")
    assert overlay_for(spec, Settings()) is None
    conventional_overlay(spec).write_text("kpn-collections-overlay: 1\n", encoding="utf-8")
    assert overlay_for(spec, Settings()) == tmp_path / "billing.overlay.yaml"
    assert spec_of_overlay(tmp_path / "billing.overlay.yaml") == spec
    assert overlay_for(spec, Settings(overlay=tmp_path / "other.yaml")) == tmp_path / "other.yaml"


def test_every_part_is_applied(tmp_path: Path) -> None:
    result = convert_file(spec_with_overlay(tmp_path, FULL_OVERLAY))
    assert result.errors == [] and result.warnings == []
    collection = result.collection
    assert collection is not None and schema_errors(collection) == []
    read = find_request(collection, "getCustomer")
    tests = next(e for e in read["event"] if e["listen"] == "test")["script"]["exec"]
    assert tests[-1] == FULL_OVERLAY["operations"]["getCustomer"]["tests"][0]
    assert tests[-2].startswith("// Added by testers (kept in api.overlay.yaml")
    assert len(tests) > 2  # after the generated contract tests, in the same script
    pre = next(e for e in read["event"] if e["listen"] == "prerequest")["script"]["exec"]
    assert pre[-1] == 'console.log("tester prerequest");'
    assert read["request"]["url"]["variable"][0]["value"] == "42"
    assert read["request"]["description"].endswith(
        "\n\nTester note: 42 is the shared test customer."
    )
    example = read["response"][-1]
    assert example["name"] == "Tester example" and example["originalRequest"]["method"] == "GET"
    listing = find_request(collection, "List customers")
    query = {q["key"]: q for q in listing["request"]["url"]["query"]}
    assert query["limit"] == {**query["limit"], "value": "5"} and "disabled" not in query["limit"]
    assert query["q"]["disabled"] is True and query["extra"]["value"] == "x"
    assert listing["request"]["url"]["raw"].endswith("/customers?limit=5&extra=x")
    create = find_request(collection, "Create a customer")
    assert create["request"]["body"]["raw"] == '{"name": "Tester"}'
    assert {"key": "tenant", "value": "acme", "type": "string"} in collection["variable"]
    assert collection["event"][-1]["listen"] == "test"
    assert (
        collection["event"][-1]["script"]["exec"][-1]
        == 'pm.test("tester: collection-wide", () => {});'
    )
    workflows = next(i for i in collection["item"] if i["name"] == "Workflows")
    assert [i["name"] for i in iter_requests(workflows["item"])] == ["Read health"]
    assert [i["name"] for i in collection["item"][-2:]] == ["Workflows", "Top-level extra"]


def test_applying_is_deterministic_and_leaves_its_input_alone(tmp_path: Path) -> None:
    spec = spec_with_overlay(tmp_path, FULL_OVERLAY)
    plain = convert_file(spec, Settings(overlay=tmp_path / "none.yaml"))
    assert plain.collection is None and plain.errors[0].code == "overlay-missing"
    (tmp_path / "empty.yaml").write_text("kpn-collections-overlay: 1\n", encoding="utf-8")
    bare = convert_file(spec, Settings(overlay=tmp_path / "empty.yaml"))
    assert bare.collection is not None
    before = json.dumps(bare.collection)
    applied, problems = apply_overlay(
        bare.collection, FULL_OVERLAY, bare.operations, source="api.overlay.yaml"
    )
    assert problems == [] and json.dumps(bare.collection) == before
    again, _ = apply_overlay(
        bare.collection, FULL_OVERLAY, bare.operations, source="api.overlay.yaml"
    )
    assert json.dumps(applied) == json.dumps(again) == json.dumps(convert_file(spec).collection)


def test_keys_by_operation_id_or_method_and_path() -> None:
    assert Operation("get", "/a/{id}", "getA").keys == ("getA", "GET /a/{id}")
    assert Operation("post", "/a", "").key == "POST /a"


def test_an_entry_for_no_operation_is_a_located_warning(tmp_path: Path) -> None:
    overlay = overlay_checked(
        {"kpn-collections-overlay": 1, "operations": {"goneOperation": {"tests": ["x;"]}}}
    )
    result = convert_file(spec_with_overlay(tmp_path, overlay))
    assert result.collection is not None
    (warning,) = result.warnings
    assert warning.code == "overlay-orphan" and warning.file.endswith("api.overlay.yaml")
    # its entry, below the header
    assert warning.pointer == "/operations/goneOperation" and warning.line == 6


def test_a_bad_overlay_is_a_located_error(tmp_path: Path) -> None:
    text = (
        "kpn-collections-overlay: 1\noperations:\n  getCustomer:\n    tests: not a list\n    headr:"
        " {}\n"
    )
    result = convert_file(spec_with_overlay(tmp_path, text))
    assert result.collection is None
    located = {(d.code, d.pointer, d.line) for d in result.errors}
    assert ("overlay-invalid", "/operations/getCustomer/tests", 4) in located
    assert ("overlay-invalid", "/operations/getCustomer", 4) in located  # the unknown key `headr`
    broken = convert_file(spec_with_overlay(tmp_path, "operations: [\n"))
    assert (
        broken.collection is None
        and broken.errors[0].code == "yaml-syntax"
        and broken.errors[0].line
    )


@pytest.mark.parametrize(
    "overlay",
    [
        {"collection": {"variables": {"client_secret": "s3cr3t-value-123"}}},
        {
            "operations": {
                "getCustomer": {
                    "header": {
                        "Authorization": {
                            "value": (
                                "Bearer"
                                " eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk"
                            )
                        }
                    }
                }
            }
        },
        {
            "operations": {
                "getCustomer": {
                    "tests": ['pm.request.headers.add("Bearer abcdefghijklmnopqrstuvwxyz012345")']
                }
            }
        },
    ],
)
def test_credentials_in_an_overlay_are_refused(tmp_path: Path, overlay: dict[str, Any]) -> None:
    result = convert_file(spec_with_overlay(tmp_path, {"kpn-collections-overlay": 1, **overlay}))
    assert result.collection is None
    assert [d.code for d in result.errors] == ["secret-in-overlay"]
    assert result.errors[0].line is not None


def test_settings_file_names_an_overlay_inside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".kpn-collections.yaml").write_text(
        "overrides:\n  - files: api.yaml\n    overlay: overlays/api.yaml\n", encoding="utf-8"
    )
    config = load_config(repo / ".kpn-collections.yaml")
    assert config.for_spec(repo / "api.yaml")["overlay"] == repo / "overlays" / "api.yaml"
    (repo / ".kpn-collections.yaml").write_text("overlay: ../elsewhere.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="overlay leads outside the repository"):
        load_config(repo / ".kpn-collections.yaml")


def test_settings_file_overlay_is_applied(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "api.yaml")
    (tmp_path / ".git").mkdir()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "api-additions.yaml").write_text(
        dump_overlay(FULL_OVERLAY), encoding="utf-8"
    )
    (tmp_path / ".kpn-collections.yaml").write_text(
        "overlay: kept/api-additions.yaml\n", encoding="utf-8"
    )
    completed = run("convert", "api.yaml", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    collection = json.loads((tmp_path / "api.postman_collection.json").read_text(encoding="utf-8"))
    assert any(i["name"] == "Workflows" for i in collection["item"])


def test_editing_only_the_overlay_makes_the_collection_stale(tmp_path: Path) -> None:
    spec = spec_with_overlay(tmp_path, {"kpn-collections-overlay": 1})
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert run("convert", str(spec), *cache).returncode == 0
    assert run("convert", str(spec), "--check", *cache).returncode == 0
    conventional_overlay(spec).write_text(dump_overlay(FULL_OVERLAY), encoding="utf-8")
    checked = run("convert", str(spec), "--check", *cache)
    assert checked.returncode == 1 and "is stale" in checked.stderr
    # the cache does not serve the old collection
    assert run("convert", str(spec), *cache).returncode == 0
    written = json.loads(spec.with_name("api.postman_collection.json").read_text(encoding="utf-8"))
    assert any(i["name"] == "Workflows" for i in written["item"])


def test_overlay_yaml_round_trips(tmp_path: Path) -> None:
    text = dump_overlay(FULL_OVERLAY)
    assert yaml.safe_load(text) == FULL_OVERLAY
    path = tmp_path / "x.overlay.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_overlay(path) == (FULL_OVERLAY, [])


def test_hook_mode_converts_the_spec_of_a_staged_overlay(tmp_path: Path) -> None:
    spec = spec_with_overlay(tmp_path, FULL_OVERLAY)
    completed = run("convert", "--pre-commit", "--no-cache", "--", "api.overlay.yaml", cwd=tmp_path)
    assert completed.returncode == 1 and "git add api.postman_collection.json" in completed.stderr
    assert spec.with_name("api.postman_collection.json").is_file()


def test_the_readme_example_overlay_is_valid() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```yaml\nkpn-collections-overlay: 1\n") + len("```yaml\n")
    example = yaml.safe_load(readme[start : readme.index("```", start)])
    overlay_checked(example)
