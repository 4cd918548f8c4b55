"""Done-when for overlays, on every KPN corpus spec: scripted tester edits are absorbed, the spec
changes (operations added, removed and renamed, a schema changed), and the regenerated collection
has every edit whose operation still exists, reports the others as orphans, and (newman, local
gateway) runs the added test lines."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpn_collections.absorb import absorb
from kpn_collections.build.parts import stable_id
from kpn_collections.diagnostics import pointer_join
from kpn_collections.overlay import Operation, conventional_overlay, dump_overlay
from kpn_collections.pipeline import ConversionResult, convert_file
from kpn_collections.settings import Settings

from ..acceptance.test_absorb import sdk_export
from ..acceptance.test_overlay import overlay_checked
from ..conftest import corpus_specs, require_corpus
from ..e2e.test_token_flow import own_token_paths, run_against_gateway
from ..helpers import find_request, iter_requests
from ..support import tester_edits
from ..support.gateway import Gateway
from ..support.tester_edits import ADDED_REQUEST, ADDED_VARIABLE, FAILING_TEST, PASSING_TEST

NEWMAN_SPECS = ("kpn-sms-openapi.yml", "kpn-tv-guide-openapi.yml", "kpn-sim-swap-openapi.yml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def converted(spec: Path) -> ConversionResult:
    result = convert_file(spec, Settings())
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    return result


def operation_of(result: ConversionResult, name: str) -> Operation:
    """The spec operation behind the generated request with this name."""
    assert result.collection is not None
    collection_id = result.collection["info"]["_postman_id"]
    item_id = find_request(result.collection, name)["id"]
    return next(
        o for o in result.operations if stable_id(collection_id, o.method, o.path) == item_id
    )


def change_spec(spec: Path, removed: Operation, renamed: Operation | None) -> None:
    """Remove one operation, rename another (its operationId, else its path), add one, change a
    schema."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    paths = document["paths"]
    del paths[removed.path][removed.method]
    if not any(m in paths[removed.path] for m in METHODS):
        del paths[removed.path]
    if renamed is not None and renamed.path in paths and renamed.method in paths[renamed.path]:
        if renamed.operation_id:
            paths[renamed.path][renamed.method]["operationId"] = renamed.operation_id + "Renamed"
        else:
            paths[renamed.path.rstrip("/") + "/renamed"] = paths.pop(renamed.path)
    paths["/tester-added-operation"] = {
        "get": {"operationId": "testerAddedOperation", "responses": {"200": {"description": "OK"}}}
    }
    schemas = document.get("components", {}).get("schemas") or document.get("definitions") or {}
    changed = next(
        (
            s
            for s in schemas.values()
            if isinstance(s, dict) and isinstance(s.get("properties"), dict)
        ),
        None,
    )
    if changed is not None:
        changed["properties"]["testerAddedField"] = {"type": "string"}
    spec.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def assert_applied(item: dict[str, Any], entry: dict[str, Any]) -> None:
    """The overlay entry of one operation is in its regenerated request."""
    for listen, name in (("test", "tests"), ("prerequest", "prerequest")):
        if name in entry:
            lines = next(e for e in item["event"] if e["listen"] == listen)["script"]["exec"]
            assert lines[-len(entry[name]) :] == entry[name]
    request = item["request"]
    for name, entries in (
        ("query", request["url"].get("query", [])),
        ("header", request.get("header", [])),
        ("path", request["url"].get("variable", [])),
    ):
        for key, change in entry.get(name, {}).items():
            found = next(e for e in entries if e["key"] == key)
            assert found["value"] == change.get("value", found["value"])
            assert bool(found.get("disabled")) == change.get(
                "disabled", bool(found.get("disabled"))
            )
    if "body" in entry:
        assert request["body"] == entry["body"]
    names = [r["name"] for r in item.get("response", [])]
    assert all(e["name"] in names for e in entry.get("examples", []))


def absorbed_then_changed(
    spec_file: Path, tmp_path: Path
) -> tuple[dict[str, Any], ConversionResult, tester_edits.Edits, set[str]]:
    spec = tmp_path / spec_file.name
    shutil.copy(spec_file, spec)
    base = converted(spec)
    assert base.collection is not None
    edited, done = tester_edits.edit(base.collection)
    result = absorb(base.collection, sdk_export(edited, tmp_path), base.collection, base.operations)
    overlay = overlay_checked(result.overlay)
    operations = overlay.get("operations", {})
    # every scripted edit is an overlay entry
    for name in done.tests:
        assert operations[operation_of(base, name).key]["tests"] == [PASSING_TEST, FAILING_TEST]
    if done.parameter is not None:
        name, where, key, value = done.parameter
        assert operations[operation_of(base, name).key][where][key]["value"] == value
    if done.disabled_header is not None:
        assert (
            operations[operation_of(base, done.disabled_header[0]).key]["header"]["Accept"][
                "disabled"
            ]
            is True
        )
    if done.body is not None:
        assert operations[operation_of(base, done.body[0]).key]["body"]["raw"] == done.body[1]
    assert done.example is not None
    assert (
        operations[operation_of(base, done.example).key]["examples"][0]["name"]
        == tester_edits.ADDED_EXAMPLE
    )
    assert overlay["collection"]["variables"] == dict([ADDED_VARIABLE])
    assert overlay["collection"]["items"][0]["item"]["name"] == ADDED_REQUEST
    assert {d.code for d in result.problems} == {"absorb-secret"}
    conventional_overlay(spec).write_text(dump_overlay(overlay), encoding="utf-8")
    removed = operation_of(base, done.example)
    renamed = operation_of(base, done.tests[0])
    change_spec(spec, removed, renamed if renamed != removed else None)
    regenerated = converted(spec)
    assert regenerated.collection is not None
    keys = {key for operation in regenerated.operations for key in operation.keys}
    orphaned = {d.pointer for d in regenerated.warnings if d.code == "overlay-orphan"}
    collection_id = regenerated.collection["info"]["_postman_id"]
    by_id = {i["id"]: i for i in iter_requests(regenerated.collection["item"]) if "id" in i}
    by_key = {
        key: by_id[stable_id(collection_id, o.method, o.path)]
        for o in regenerated.operations
        for key in o.keys
    }
    present = set()
    for key, entry in operations.items():
        if key in keys:
            assert_applied(by_key[key], entry)
            present.add(key)
        else:
            assert pointer_join("operations", key) in orphaned, (key, orphaned)
    assert removed.key not in present  # the removed operation's edits are orphans, reported
    added = find_request(regenerated.collection, ADDED_REQUEST)
    assert added["event"][0]["script"]["exec"][-1] == PASSING_TEST
    assert (
        dict([ADDED_VARIABLE]).items()
        <= {v["key"]: v["value"] for v in regenerated.collection["variable"]}.items()
    )
    return overlay, regenerated, done, present


@pytest.mark.parametrize(
    "spec_file", corpus_specs() or [None], ids=lambda p: p.name if p else "no-corpus"
)
def test_corpus_edits_survive_spec_changes(spec_file: Path | None, tmp_path: Path) -> None:
    require_corpus()
    assert spec_file is not None
    absorbed_then_changed(spec_file, tmp_path)


@pytest.mark.parametrize("name", NEWMAN_SPECS)
def test_added_test_lines_run_in_newman(name: str, tmp_path: Path) -> None:
    spec_file = next((p for p in require_corpus() if p.name == name), None)
    assert spec_file is not None, f"{name} is not in the corpus"
    overlay, regenerated, _, present = absorbed_then_changed(spec_file, tmp_path)
    collection = regenerated.collection
    assert collection is not None
    with Gateway(own_token_paths=own_token_paths(collection)) as gateway:
        run = run_against_gateway(collection, gateway)
    assertions = run.assertions()
    tested = {n for n, entry in overlay["operations"].items() if n in present and "tests" in entry}
    ran = {item for item, assertion, _, _ in assertions if assertion == "tester: answered"}
    # every operation that kept its added lines, and the added request
    assert len(ran) == len(tested) + 1
    assert ADDED_REQUEST in ran
    for item, assertion, passed, _ in assertions:
        if assertion == "tester: answered":
            assert passed, item
        if assertion == "tester: deliberately failing":
            assert not passed, item
    assert sum(1 for _, a, _, _ in assertions if a == "tester: deliberately failing") == len(tested)
