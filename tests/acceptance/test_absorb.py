"""absorb: edited collections back to overlays, three-way, without Postman's export noise or
typed-in secrets."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpn_collections.absorb import absorb
from kpn_collections.overlay import conventional_overlay, dump_overlay, load_overlay
from kpn_collections.pipeline import ConversionResult, convert_file
from kpn_collections.settings import Settings

from ..acceptance.test_cli import run
from ..acceptance.test_overlay import overlay_checked
from ..conftest import FIXTURES, REPO_ROOT
from ..helpers import find_request, iter_requests
from ..support import tester_edits
from ..support.tester_edits import (
    ADDED_EXAMPLE,
    ADDED_REQUEST,
    FAILING_TEST,
    PASSING_TEST,
    TYPED_SECRET,
)

SPEC = FIXTURES / "oas30" / "features" / "input.yaml"
EXPORT_SCRIPT = REPO_ROOT / "tests" / "support" / "postman_export.js"


def sdk_export(collection: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The collection as the postman-collection SDK (Postman's and newman's library) writes it
    back."""
    source, target = tmp_path / "to-export.json", tmp_path / "exported.json"
    source.write_text(json.dumps(collection), encoding="utf-8")
    subprocess.run(
        ["node", str(EXPORT_SCRIPT), str(source), str(target)], check=True, cwd=REPO_ROOT
    )
    exported: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return exported


def hand_export(collection: dict[str, Any]) -> dict[str, Any]:
    """What Postman's app does to a collection on export, made by hand: no ids, keys in another
    order, header and query `type`s, descriptions as objects, scripts in one string, `_exporter_id`,
    empty response arrays."""

    def noisy(value: Any, key: str = "") -> Any:
        if isinstance(value, list):
            return [noisy(v, key) for v in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for name in reversed(list(value)):
            child = value[name]
            if name == "id":
                continue
            if name == "description" and isinstance(child, str):
                child = {"content": child, "type": "text/plain"}
            if name == "exec" and isinstance(child, list):
                child = "\n".join(child)
            out[name] = noisy(child, name)
        if key in ("header", "query", "urlencoded") and "key" in out:
            out["type"] = "text"
        if "request" in out and "response" not in out:
            out["response"] = []
        return out

    exported = noisy(copy.deepcopy(collection))
    exported["info"]["_exporter_id"] = "12345678"
    return exported  # type: ignore[no-any-return]


def generated(spec: Path, overlay: Path | None = None) -> ConversionResult:
    settings = Settings(overlay=overlay) if overlay is not None else Settings()
    result = convert_file(spec, settings)
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    return result


def test_absorbing_an_unedited_export_yields_an_empty_overlay(tmp_path: Path) -> None:
    ours = generated(SPEC)
    assert ours.collection is not None
    for theirs in (
        sdk_export(ours.collection, tmp_path),
        hand_export(ours.collection),
        sdk_export(hand_export(ours.collection), tmp_path),
    ):
        result = absorb(ours.collection, theirs, ours.collection, ours.operations)
        assert (result.overlay, result.changed, result.problems) == (
            {"kpn-collections-overlay": 1},
            False,
            (),
        )


def absorbed_edits(
    tmp_path: Path, spec: Path = SPEC
) -> tuple[ConversionResult, dict[str, Any], tester_edits.Edits, Any]:
    ours = generated(spec)
    assert ours.collection is not None
    edited, done = tester_edits.edit(ours.collection)
    result = absorb(ours.collection, sdk_export(edited, tmp_path), ours.collection, ours.operations)
    overlay_checked(result.overlay)
    return ours, result.overlay, done, result


def test_tester_edits_become_overlay_entries_and_survive_regeneration(tmp_path: Path) -> None:
    ours, overlay, _, result = absorbed_edits(tmp_path)
    operations = overlay["operations"]
    assert operations["listCustomers"]["tests"] == [PASSING_TEST, FAILING_TEST]
    assert operations["listCustomers"]["query"] == {"q": {"value": "tester-value"}}
    assert operations["listCustomers"]["header"] == {"Accept": {"disabled": True}}
    assert operations["createCustomer"]["body"]["raw"] == '{"tester": "replaced body"}'
    assert operations["POST /echo"]["examples"][0]["name"] == ADDED_EXAMPLE
    assert overlay["collection"]["variables"] == {"tester_tenant": "acme"}
    (extra,) = overlay["collection"]["items"]
    assert extra["folder"] == "Customers" and extra["item"]["name"] == ADDED_REQUEST
    text = dump_overlay(overlay)
    assert "typed-in-secret-value" not in text and TYPED_SECRET.split()[1] not in text
    secrets = [d for d in result.problems if d.code == "absorb-secret"]
    assert len(secrets) == 2 and "client_secret" in secrets[0].message
    spec = tmp_path / "api.yaml"
    shutil.copy(SPEC, spec)
    conventional_overlay(spec).write_text(text, encoding="utf-8")
    again = generated(spec)
    assert again.collection is not None and again.warnings == []
    listing = find_request(again.collection, "List customers")
    assert listing["event"][0]["script"]["exec"][-2:] == [PASSING_TEST, FAILING_TEST]
    assert listing["request"]["url"]["query"][0]["value"] == "tester-value"
    assert next(h for h in listing["request"]["header"] if h["key"] == "Accept")["disabled"] is True
    create = find_request(again.collection, "Create a customer")
    assert create["request"]["body"]["raw"] == '{"tester": "replaced body"}'
    assert find_request(again.collection, "POST /echo")["response"][-1]["name"] == ADDED_EXAMPLE
    assert find_request(again.collection, ADDED_REQUEST)["request"]["url"]["path"] == [
        "tester",
        "workflow",
    ]
    # absorbing twice changes nothing; nor does absorbing the regenerated collection's export
    twice = absorb(
        ours.collection,
        sdk_export(tester_edits.edit(ours.collection)[0], tmp_path),
        again.collection,
        again.operations,
        overlay,
    )
    assert twice.changed is False and twice.overlay == overlay
    exported = sdk_export(again.collection, tmp_path)
    assert (
        absorb(again.collection, exported, again.collection, again.operations, overlay).changed
        is False
    )
    assert (
        absorb(
            again.collection,
            hand_export(again.collection),
            again.collection,
            again.operations,
            overlay,
        ).changed
        is False
    )


def changed_spec(tmp_path: Path, change: Any) -> Path:
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_spec_changes_since_base_are_not_edits(tmp_path: Path) -> None:
    base = generated(SPEC)
    assert base.collection is not None

    def change(document: dict[str, Any]) -> None:
        del document["paths"]["/echo"]
        document["paths"]["/customers"]["get"]["parameters"][0]["example"] = "Pietersen"

    ours = generated(changed_spec(tmp_path, change))
    assert ours.collection is not None
    result = absorb(
        base.collection, sdk_export(base.collection, tmp_path), ours.collection, ours.operations
    )
    assert (result.overlay, result.changed) == ({"kpn-collections-overlay": 1}, False)


def test_edits_of_gone_operations_and_collisions_are_orphans(tmp_path: Path) -> None:
    base = generated(SPEC)
    assert base.collection is not None
    edited, _ = tester_edits.edit(base.collection)

    def change(document: dict[str, Any]) -> None:
        del document["paths"]["/echo"]  # had the added saved example
        query = next(
            p for p in document["paths"]["/customers"]["get"]["parameters"] if p.get("name") == "q"
        )
        query["example"] = "Pietersen"  # the testers changed this parameter too

    ours = generated(changed_spec(tmp_path, change))
    assert ours.collection is not None
    result = absorb(base.collection, sdk_export(edited, tmp_path), ours.collection, ours.operations)
    overlay_checked(result.overlay)
    orphans = {(o["operation"], o["field"]) for o in result.overlay["orphans"]}
    assert orphans == {("POST /echo", "examples"), ("listCustomers", "query q")}
    assert result.overlay["operations"]["listCustomers"]["tests"] == [
        PASSING_TEST,
        FAILING_TEST,
    ]  # still placed
    reported = [d for d in result.problems if d.code == "absorb-orphan"]
    assert len(reported) == 2 and all(d.pointer.startswith("/item/") for d in reported)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_cli_absorbs_an_in_place_edit_against_the_committed_file(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "api.yaml")
    git("init", "-q", cwd=tmp_path)
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "generated", cwd=tmp_path)
    output = tmp_path / "api.postman_collection.json"
    edited, _ = tester_edits.edit(json.loads(output.read_text(encoding="utf-8")))
    output.write_text(json.dumps(edited, indent=2), encoding="utf-8")
    completed = run("absorb", "api.postman_collection.json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "wrote api.overlay.yaml" in completed.stderr
    assert (
        "api.postman_collection.json:" in completed.stderr and "[absorb-secret]" in completed.stderr
    )
    overlay, problems = load_overlay(tmp_path / "api.overlay.yaml")
    assert problems == [] and overlay is not None
    overlay_checked(overlay)
    again = run("absorb", "api.postman_collection.json", cwd=tmp_path)
    assert again.returncode == 0 and "nothing new to absorb" in again.stderr
    no_base = run("absorb", "api.postman_collection.json", "--base", "missing.json", cwd=tmp_path)
    assert no_base.returncode == 2


def test_cli_absorb_without_a_base_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "api.yaml")
    (tmp_path / "export.json").write_text("{}", encoding="utf-8")
    completed = run("absorb", "export.json", "api.yaml", cwd=tmp_path)
    assert completed.returncode == 2 and "--base FILE" in completed.stderr


@pytest.mark.parametrize("exporter", ["sdk", "hand"])
def test_requests_are_matched_without_ids(tmp_path: Path, exporter: str) -> None:
    ours = generated(SPEC)
    assert ours.collection is not None
    edited, _ = tester_edits.edit(ours.collection)
    theirs = sdk_export(edited, tmp_path) if exporter == "sdk" else hand_export(edited)
    for item in iter_requests(theirs["item"]):
        item.pop("id", None)
    result = absorb(ours.collection, theirs, ours.collection, ours.operations)
    assert set(result.overlay["operations"]) == {"listCustomers", "createCustomer", "POST /echo"}


def test_check_and_convert_tell_a_hand_edit_from_a_stale_collection(tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    shutil.copy(SPEC, spec)
    git("init", "-q", cwd=tmp_path)
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "generated", cwd=tmp_path)
    output = tmp_path / "api.postman_collection.json"
    committed = output.read_text(encoding="utf-8")
    # a spec change: stale, and regenerated as often as the spec changes (not mistaken for a hand
    # edit)
    spec.write_text(
        committed_spec := SPEC.read_text(encoding="utf-8").replace("Jansen", "Pietersen"),
        encoding="utf-8",
    )
    checked = run("convert", "api.yaml", "--check", "--no-cache", cwd=tmp_path)
    assert (
        checked.returncode == 1
        and "is stale" in checked.stderr
        and "edited by hand" not in checked.stderr
    )
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    spec.write_text(committed_spec.replace("Pietersen", "de Vries"), encoding="utf-8")
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    shutil.copy(SPEC, spec)
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    assert output.read_text(encoding="utf-8") == committed
    # a hand edit: reported, never overwritten, until absorbed
    edited, _ = tester_edits.edit(json.loads(committed))
    edited["variable"] = [
        {**v, "value": ""} if v["key"] == "client_secret" else v for v in edited["variable"]
    ]
    output.write_text(edited_text := json.dumps(edited, indent=2), encoding="utf-8")
    for mode in (("--check",), ()):
        refused = run("convert", "api.yaml", "--no-cache", *mode, cwd=tmp_path)
        assert refused.returncode == 1, refused.stderr
        assert "[edited-by-hand]" in refused.stderr
        assert (
            "run `kpn-collections absorb api.postman_collection.json api.yaml` to keep these edits"
            in refused.stderr
        )
        assert output.read_text(encoding="utf-8") == edited_text
    assert run("absorb", "api.postman_collection.json", cwd=tmp_path).returncode == 0
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    regenerated = json.loads(output.read_text(encoding="utf-8"))
    assert find_request(regenerated, ADDED_REQUEST) and TYPED_SECRET not in output.read_text(
        "utf-8"
    )
    assert run("convert", "api.yaml", "--check", "--no-cache", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    "theirs",
    [
        {"item": [{"request": 5}], "variable": "x", "event": [1]},
        {
            "item": [
                {
                    "request": {"url": 5, "header": "x", "body": {"mode": 3}},
                    "event": [{"listen": "test", "script": {"exec": 5}}],
                    "response": [{"name": 3}, {"name": "a", "header": "x"}],
                }
            ]
        },
        {"item": "x", "variable": [{"key": 1}, {"key": "a", "value": {"x": 1}}], "info": 3},
        {
            "item": [
                {
                    "name": "f",
                    "item": [
                        {"request": {"method": 5, "url": {"host": [5], "path": 7, "query": "x"}}}
                    ],
                }
            ]
        },
    ],
)
def test_an_edited_collection_of_any_shape_is_no_bug(theirs: dict[str, Any]) -> None:
    from kpn_collections.absorb import hand_edits

    ours = generated(SPEC)
    assert ours.collection is not None
    result = absorb(ours.collection, theirs, ours.collection, ours.operations)
    overlay_checked(result.overlay)
    hand_edits(ours.collection, theirs, ours.collection, ours.operations)


def test_cli_absorb_of_a_file_that_is_no_collection_fails_with_a_message(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "api.yaml")
    assert run("convert", "api.yaml", "--no-cache", cwd=tmp_path).returncode == 0
    (tmp_path / "export.json").write_text("[1, 2]", encoding="utf-8")
    completed = run("absorb", "export.json", "api.yaml", cwd=tmp_path)
    assert completed.returncode == 1 and "not a Postman collection" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_absorb_creates_the_overlay_the_settings_name(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "api.yaml")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".kpn-collections.yaml").write_text(
        "overlay: kept/additions.yaml\n", encoding="utf-8"
    )
    (tmp_path / "kept").mkdir()
    base = generated(SPEC)
    assert base.collection is not None
    (tmp_path / "base.json").write_text(json.dumps(base.collection), encoding="utf-8")
    edited, _ = tester_edits.edit(base.collection)
    (tmp_path / "export.json").write_text(json.dumps(edited), encoding="utf-8")
    completed = run("absorb", "export.json", "api.yaml", "--base", "base.json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    overlay, problems = load_overlay(tmp_path / "kept" / "additions.yaml")
    assert problems == [] and overlay is not None and "listCustomers" in overlay["operations"]
    assert not (tmp_path / "api.overlay.yaml").exists()
