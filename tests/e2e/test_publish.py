"""`kpn-collections publish` end to end: the command against a stateful fake of the Postman API,
behind Prism serving Postman's own API definition (every request validated before it reaches the
fake)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kpn_collections import cli
from kpn_collections.publish import api as publish_api
from kpn_collections.publish.compare import digest, entries

from ..acceptance.test_cli import console_script
from ..conftest import FIXTURES, require_corpus
from ..support.fake_postman import FakePostman, fake_postman
from ..support.postman_api import prism_proxy, validating_definition

API_KEY = "PMAK-0123456789abcdef0123456789-abcdef0123456789abcdef0123456789ab"
WORKSPACE = "1f0df51a-8658-4ee8-a2a1-d2567dfa09a9"
FEATURES = FIXTURES / "oas30" / "features" / "input.yaml"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakePostman, str]]:
    """The fake, and Prism's proxy in front of it (its URL), shared by the tests of this module."""
    definition, _ = validating_definition(tmp_path_factory.mktemp("definition"))
    with fake_postman(API_KEY) as fake, prism_proxy(definition, fake.url) as prism:
        yield fake, prism.url


@pytest.fixture
def postman(servers: tuple[FakePostman, str], monkeypatch: pytest.MonkeyPatch) -> FakePostman:
    fake, _ = servers
    fake.reset()
    fake.add_workspace(WORKSPACE)
    return fake


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(publish_api, "SLEEP", recorded.append)
    return recorded


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository as the working directory."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def publish(servers: tuple[FakePostman, str], *arguments: str, key: str = API_KEY) -> Result:
    _, url = servers
    return CliRunner().invoke(
        cli.main,
        ["publish", *arguments, "--workspace", WORKSPACE],
        env={"POSTMAN_API_KEY": key, "POSTMAN_API_URL": url},
        catch_exceptions=False,
    )


def request_ids(collection: dict[str, Any]) -> dict[str, str]:
    """Request name -> Postman id, anywhere in the collection."""
    found: dict[str, str] = {}

    def walk(items: list[Any]) -> None:
        for item in items:
            if "request" in item:
                found[item["name"]] = item["id"]
            walk(item.get("item") or [])

    walk(collection.get("item") or [])
    return found


def the_collection(postman: FakePostman) -> tuple[str, dict[str, Any]]:
    [collection] = postman.workspace_collections(WORKSPACE)
    return collection["info"]["uid"], collection


def copy_features(project: Path) -> Path:
    spec = project / "specs" / "features.yaml"
    spec.parent.mkdir()
    shutil.copy(FEATURES, spec)
    return spec


def rewrite(spec: Path, change: Any) -> None:
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    change(document)
    spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def rename_health_check(spec: Path, summary: str) -> None:
    """Change one operation's summary, nothing else."""
    text = spec.read_text(encoding="utf-8")
    assert "      summary: Health check\n" in text
    spec.write_text(
        text.replace("      summary: Health check\n", f"      summary: {summary}\n"),
        encoding="utf-8",
    )


# --- first publish, republish
# ----------------------------------------------------------------------------


def test_first_publish_of_the_corpus_creates_each_collection_once(
    servers: tuple[FakePostman, str], postman: FakePostman, waits: list[float], project: Path
) -> None:
    specs = require_corpus()
    result = publish(servers, *map(str, specs))
    assert result.exit_code == 0, result.output
    collections = postman.workspace_collections(WORKSPACE)
    assert len(collections) == len(specs)
    assert sorted(c.method for c in postman.writes()) == ["POST"] * len(specs)
    assert all(c.status == 200 for c in postman.calls)  # Prism let every request through
    state = json.loads((project / ".kpn-collections-publish.json").read_text(encoding="utf-8"))
    published = state["workspaces"][WORKSPACE]
    assert sorted(published) == sorted(s.as_posix() for s in specs)
    by_uid = {c["info"]["uid"]: c for c in collections}
    for entry in published.values():
        postman_ids = set(request_ids(by_uid[entry["uid"]]).values())
        recorded = {i["id"] for i in entry["items"].values() if i["id"]}
        assert postman_ids <= recorded
    assert f"{len(specs)} spec(s): {len(specs)} created" in result.stderr
    assert "created collection" in result.stderr

    text = (project / ".kpn-collections-publish.json").read_bytes()
    postman.calls.clear()
    again = publish(servers, *map(str, specs))
    assert again.exit_code == 0, again.output
    assert postman.calls == []  # nothing changed: Postman is not even asked
    assert (project / ".kpn-collections-publish.json").read_bytes() == text
    assert f"{len(specs)} unchanged" in again.stderr


def test_state_file_is_deterministic_and_sorted(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    text = (project / ".kpn-collections-publish.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    entry = data["workspaces"][WORKSPACE]["specs/features.yaml"]
    assert set(entry) == {"uid", "name", "digest", "items", "responses", "base"}
    assert API_KEY not in text


# --- spec change: only changed items, ids kept
# -------------------------------------------------------------


def test_spec_change_updates_in_place_and_keeps_the_ids_of_unchanged_requests(
    servers: tuple[FakePostman, str], postman: FakePostman, waits: list[float], project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    uid, before = the_collection(postman)
    ids_before = request_ids(before)

    def change(document: dict[str, Any]) -> None:
        document["paths"]["/health"]["get"]["summary"] = "Health check, renamed"
        del document["paths"]["/echo"]
        document["paths"]["/status"] = {
            "get": {
                "summary": "Status",
                "tags": ["Monitoring"],
                "responses": {"200": {"description": "ok"}},
            }
        }

    rewrite(spec, change)
    postman.calls.clear()
    result = publish(servers, str(spec), "-v")
    assert result.exit_code == 0, result.output
    assert [(c.method, c.path) for c in postman.writes()] == [("PUT", f"/collections/{uid}")]
    uid_after, after = the_collection(postman)
    assert uid_after == uid
    ids_after = request_ids(after)
    unchanged = set(ids_before) - {"Health check", "POST /echo"}
    assert {n: ids_after[n] for n in unchanged} == {n: ids_before[n] for n in unchanged}
    # changed in place, same id
    assert ids_after["Health check, renamed"] == ids_before["Health check"]
    assert "Status" in ids_after and ids_after["Status"] not in ids_before.values()
    sent = postman.writes()[0].body["collection"]
    assert "_postman_id" not in sent["info"]
    assert "  + Monitoring / Status (added)" in result.stderr
    assert "  - POST /echo (removed)" in result.stderr
    assert "  ~ Monitoring / Health check, renamed (changed)" in result.stderr
    assert "1 added, 1 removed," in result.stderr


def test_dry_run_lists_the_changes_and_calls_no_write_endpoint(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    dry_first = publish(servers, str(spec), "--dry-run")
    assert dry_first.exit_code == 0, dry_first.output
    assert "would create collection 'Features - KPN'" in dry_first.stderr
    assert postman.calls == [] and not (project / ".kpn-collections-publish.json").exists()
    assert publish(servers, str(spec)).exit_code == 0
    state = (project / ".kpn-collections-publish.json").read_bytes()
    rename_health_check(spec, "Liveness")
    postman.calls.clear()
    result = publish(servers, str(spec), "--dry-run")
    assert result.exit_code == 0, result.output
    assert postman.writes() == []
    assert (
        "would update collection" in result.stderr
        and "0 added, 0 removed, 1 changed" in result.stderr
    )
    assert "  ~ Monitoring / Liveness (changed)" in result.stderr
    assert (project / ".kpn-collections-publish.json").read_bytes() == state


# --- edits made in Postman
# --------------------------------------------------------------------------------


def test_edit_in_postman_is_refused_with_the_edited_requests_then_force_says_what_is_lost(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    uid, _ = the_collection(postman)
    postman.edit_request(
        uid,
        "List customers",
        lambda item: item["event"][0]["script"]["exec"].append("pm.test('mine', () => {});"),
    )
    collection = postman.collections[uid]
    collection["item"][1]["item"].append(
        {"name": "My workflow", "request": {"method": "GET", "url": {"raw": "{{baseUrl}}/x"}}}
    )
    postman._assign_ids(collection["item"], set())
    rename_health_check(spec, "Liveness")
    postman.calls.clear()
    refused = publish(servers, str(spec))
    assert refused.exit_code == 1
    assert postman.writes() == []
    assert "not published: edited in Postman since the last publish" in refused.stderr
    assert "  ~ Customers / List customers (edited in Postman)" in refused.stderr
    assert "  + Customers / My workflow (added in Postman)" in refused.stderr
    assert "--force" in refused.stderr

    forced = publish(servers, str(spec), "--force")
    assert forced.exit_code == 0, forced.output
    assert "overwrote 2 edit(s) made in Postman (--force)" in forced.stderr
    assert "  lost: Customers / List customers (edited in Postman)" in forced.stderr
    assert "  lost: Customers / My workflow (added in Postman)" in forced.stderr
    _, after = the_collection(postman)
    assert "My workflow" not in request_ids(after)


TESTER_LINE = (
    "pm.test('tester: at most 50 customers', () =>"
    " pm.expect(pm.response.json().length).to.be.below(51));"
)
TYPED_SECRET = "s3cr3t-typed-into-postman-9f8e7d6c5b4a3f2e1d0c"
TYPED_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0ZXIifQ.c2lnbmF0dXJlLXR5cGVkLWludG8tcG9zdG1hbg"


def edit_in_postman(postman: FakePostman, uid: str) -> None:
    """What a tester does in the app: a test line added, a request added in a folder, a client
    secret typed into the collection's variables, a token into a header."""
    postman.edit_request(
        uid, "List customers", lambda item: item["event"][0]["script"]["exec"].append(TESTER_LINE)
    )
    postman.edit_request(
        uid,
        "getCustomer",
        lambda item: (
            item["request"]
            .setdefault("header", [])
            .append({"key": "X-Debug-Token", "value": f"Bearer {TYPED_TOKEN}"})
        ),
    )
    collection = postman.collections[uid]
    collection["item"][1]["item"].append(
        {"name": "My workflow", "request": {"method": "GET", "url": {"raw": "{{baseUrl}}/x"}}}
    )
    postman._assign_ids(collection["item"], set())
    [secret] = [v for v in collection["variable"] if v["key"] == "client_secret"]
    secret["value"] = TYPED_SECRET


def test_absorb_keeps_the_edits_made_in_postman_in_the_overlay_and_publishes_them(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    from kpn_collections.pipeline import convert_file
    from kpn_collections.settings import Settings

    spec = copy_features(project)
    overlay = project / "specs" / "features.overlay.yaml"
    assert publish(servers, str(spec)).exit_code == 0
    uid, before = the_collection(postman)
    edit_in_postman(postman, uid)
    customers = postman.collections[uid]["item"][1]["item"]
    customers[:] = [item for item in customers if item["name"] != "Delete a customer"]
    rename_health_check(spec, "Liveness")
    postman.calls.clear()
    refused = publish(servers, str(spec))
    assert refused.exit_code == 1 and postman.writes() == []
    assert "publish with --absorb to keep them in the spec's overlay" in refused.stderr

    dry = publish(servers, str(spec), "--absorb", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert postman.writes() == [] and not overlay.exists()
    assert (
        f"would absorb the edits made in Postman (1 added, 1 removed, 3 changed) into {overlay}"
        in dry.stderr
    )
    assert "  would absorb: Customers / List customers (edited in Postman)" in dry.stderr

    workflow_id = request_ids(postman.collections[uid])["My workflow"]
    postman.calls.clear()
    result = publish(servers, str(spec), "--absorb")
    assert result.exit_code == 0, result.output
    assert (
        f"absorbed the edits made in Postman into {overlay} (commit it with the publish state);"
        f" updated collection {uid}" in result.stderr
    )
    assert "  absorbed: Customers / List customers (edited in Postman)" in result.stderr
    assert "  absorbed: Customers / My workflow (added in Postman)" in result.stderr
    assert (
        "  not absorbed: Customers / Delete a customer (deleted in Postman; an overlay only adds,"
        " generation brings it back)" in result.stderr
    )
    assert (
        f"collection {uid} in Postman: warning [absorb-secret] at #/variable/4/value: the value of"
        " the collection variable `client_secret` looks like a credential: left out of the overlay"
        in result.stderr
    )
    # the client secret and the header's token
    assert result.stderr.count("warning [absorb-secret]") == 2
    assert (
        "warning [absorb-secret]: a JSON Web Token in the edited collection (for the overlay at "
        "#/overlay/operations/getCustomer/header/X-Debug-Token/value): left out" in result.stderr
    )
    assert TYPED_SECRET not in result.output and TYPED_TOKEN not in result.output
    text = overlay.read_text(encoding="utf-8")
    assert TYPED_SECRET not in text and TYPED_TOKEN not in text
    written = yaml.safe_load(text)
    assert written["operations"] == {
        "listCustomers": {"tests": [TESTER_LINE]}
    }  # no header left half-way
    assert [extra["item"]["name"] for extra in written["collection"]["items"]] == ["My workflow"]
    assert [(c.method, c.path) for c in postman.writes()] == [("PUT", f"/collections/{uid}")]
    assert TYPED_SECRET not in json.dumps(
        postman.writes()[0].body
    ) and TYPED_TOKEN not in json.dumps(postman.writes()[0].body)
    _, after = the_collection(postman)
    ids_before, ids_after = request_ids(before), request_ids(after)
    assert ids_after["List customers"] == ids_before["List customers"]  # updated in place
    assert ids_after["Liveness"] == ids_before["Health check"]
    # the tester's request, now from the overlay, keeps its id
    assert ids_after["My workflow"] == workflow_id
    assert "Delete a customer" in ids_after
    [listed] = [i for i in after["item"][1]["item"] if i["name"] == "List customers"]
    assert TESTER_LINE in listed["event"][0]["script"]["exec"]

    regenerated = convert_file(
        spec, Settings()
    ).collection  # what `convert` and the pre-commit hook now write
    assert regenerated is not None
    [listed] = [i for i in regenerated["item"][1]["item"] if i["name"] == "List customers"]
    assert TESTER_LINE in listed["event"][0]["script"]["exec"]
    assert "My workflow" in [i["name"] for i in regenerated["item"][1]["item"]]
    postman.calls.clear()
    again = publish(servers, str(spec))
    assert again.exit_code == 0, again.output
    # Postman holds what spec + overlay generate
    assert postman.calls == [] and "unchanged" in again.stderr
    _, absorbed = the_collection(postman)
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "summary: Liveness\n", "summary: Liveness probe\n"
        ),
        encoding="utf-8",
    )
    # a later spec change: the absorbed edits are no edits made in Postman
    later = publish(servers, str(spec))
    assert later.exit_code == 0, later.output
    _, last = the_collection(postman)
    # updated in place
    assert request_ids(last)["My workflow"] == request_ids(absorbed)["My workflow"]


def test_absorb_looks_at_postman_even_when_the_spec_did_not_change(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    uid, _ = the_collection(postman)
    postman.calls.clear()
    assert "unchanged (collection" in publish(servers, str(spec), "--absorb").stderr
    assert [c.method for c in postman.calls] == [
        "GET",
        "GET",
    ]  # the workspace, the collection; no write
    edit_in_postman(postman, uid)
    # without --absorb Postman is not even asked
    assert "unchanged" in publish(servers, str(spec)).stderr
    result = publish(servers, str(spec), "--absorb", "--format", "json")
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stderr)["collections"]
    assert entry["outcome"] == "updated" and entry["absorbed_into"] == str(
        spec.with_name("features.overlay.yaml")
    )
    assert entry["summary"].startswith(
        f"absorbed the edits made in Postman into {entry['absorbed_into']}"
    )
    assert [d["code"] for d in entry["diagnostics"]] == ["absorb-secret", "absorb-secret"]
    written = yaml.safe_load(
        (project / "specs" / "features.overlay.yaml").read_text(encoding="utf-8")
    )
    assert written["operations"] == {"listCustomers": {"tests": [TESTER_LINE]}}
    again = publish(servers, str(spec), "--absorb")
    assert again.exit_code == 0 and "unchanged (collection" in again.stderr


@pytest.mark.parametrize("damage", ["older state file", "damaged", "another collection"])
def test_absorb_without_the_collection_as_published_refuses(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path, damage: str
) -> None:
    from kpn_collections.publish.state import pack_collection

    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    uid, _ = the_collection(postman)
    state_file = project / ".kpn-collections-publish.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    entry = state["workspaces"][WORKSPACE]["specs/features.yaml"]
    if damage == "older state file":
        del entry["base"]
    elif damage == "damaged":
        entry["base"] = entry["base"][:-40]
    else:
        entry["base"] = pack_collection({"info": {"name": "Features - KPN"}, "item": []})
    state_file.write_text(json.dumps(state), encoding="utf-8")
    edit_in_postman(postman, uid)
    rename_health_check(spec, "Liveness")
    postman.calls.clear()
    result = publish(servers, str(spec), "--absorb")
    assert result.exit_code == 1
    assert "error [publish-no-base]: cannot absorb the edits made in Postman: " in result.stderr
    file = spec.with_name("features.postman_collection.json")
    assert {
        "older state file": (
            "the publish state keeps no copy of what was last published (written by an "
            f"older kpn-collections), and neither {file} nor {file} as committed is what was "
            "published"
        ),
        "damaged": "the publish state's copy of what was last published (`base`) is damaged",
        "another collection": "is not what its digest says was published (edited by hand?)",
    }[damage] in result.stderr
    assert "nothing absorbed, nothing published" in result.stderr
    assert "  ~ Customers / List customers (edited in Postman)" in result.stderr
    assert postman.writes() == [] and not (project / "specs" / "features.overlay.yaml").exists()


def test_absorb_with_an_older_state_file_takes_the_committed_collection_if_it_was_published(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    (project / ".git").rmdir()
    spec = copy_features(project)
    git = [
        "git",
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    assert CliRunner().invoke(cli.main, ["convert", str(spec)]).exit_code == 0
    assert publish(servers, "specs/features.yaml").exit_code == 0
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "published"], cwd=project, check=True)
    state_file = project / ".kpn-collections-publish.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    del state["workspaces"][WORKSPACE]["specs/features.yaml"][
        "base"
    ]  # as main wrote it before `--absorb`
    state_file.write_text(json.dumps(state), encoding="utf-8")
    uid, _ = the_collection(postman)
    edit_in_postman(postman, uid)
    rename_health_check(spec, "Liveness")
    # the file on disk moved on
    assert CliRunner().invoke(cli.main, ["convert", str(spec)]).exit_code == 0
    result = publish(servers, "specs/features.yaml", "--absorb")
    assert result.exit_code == 0, result.output
    assert "absorbed the edits made in Postman into specs/features.overlay.yaml" in result.stderr
    written = yaml.safe_load(
        (project / "specs" / "features.overlay.yaml").read_text(encoding="utf-8")
    )
    assert written["operations"] == {"listCustomers": {"tests": [TESTER_LINE]}}
    assert (
        "base"
        in json.loads(state_file.read_text(encoding="utf-8"))["workspaces"][WORKSPACE][
            "specs/features.yaml"
        ]
    )  # kept from now on


def test_absorb_and_force_together_are_a_usage_error(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    result = publish(servers, str(spec), "--absorb", "--force")
    assert result.exit_code == 2
    assert (
        "--absorb keeps the edits made in Postman, --force overwrites them: give one"
        in result.stderr
    )
    assert postman.calls == []


def test_postman_reserialisation_noise_is_not_an_edit(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    uid, _ = the_collection(postman)
    for item in postman.collections[uid]["item"][1][
        "item"
    ]:  # as the app saves a script: one string
        for event in item.get("event") or []:
            event["script"]["exec"] = ["\n".join(event["script"]["exec"])]
    rename_health_check(spec, "Liveness")
    result = publish(servers, str(spec))
    assert result.exit_code == 0, result.output
    assert "updated collection" in result.stderr


def test_normalisation_takes_out_what_postman_adds() -> None:
    generated = json.loads(
        (FIXTURES / "oas30" / "features" / "expected.postman_collection.json").read_text()
    )
    fetched = json.loads(json.dumps(generated))
    fetched["info"].update(_postman_id="other", updatedAt="2026-01-01T00:00:00Z", uid="1-other")

    def dress(items: list[Any]) -> None:
        for item in items:
            item["id"], item["uid"] = "x" + item["id"], "1-x" + item["id"]
            if "request" in item:
                item.setdefault("response", [])
                for header in item["request"].get("header") or []:
                    header["type"] = "text"
                    header.setdefault("disabled", False)
                for event in item.get("event") or []:  # the app keeps a script as one string
                    event["script"]["exec"] = ["\n".join(event["script"]["exec"])]
            dress(item.get("item") or [])

    dress(fetched["item"])
    assert digest(fetched) == digest(generated)
    keys = {"x" + k: k for k in entries(generated)}
    assert {k: e.digest for k, e in entries(fetched, keys).items()} == {
        k: e.digest for k, e in entries(generated).items()
    }


# --- rate limits, 5xx, timeouts
# ----------------------------------------------------------------------------


def test_rate_limit_5xx_and_lost_answers_mid_batch_end_with_everything_published_once(
    servers: tuple[FakePostman, str], postman: FakePostman, waits: list[float], project: Path
) -> None:
    specs = require_corpus()[:5]
    postman.inject("POST", "/collections", "429", retry_after="7")
    postman.inject("GET", "/collections/.*", "5xx", status=502, times=2)
    # carried out, but the answer comes too late
    postman.inject("POST", "/collections", "timeout", delay=3.0)
    postman.inject("GET", "/workspaces/.*", "5xx", status=503)
    result = publish(servers, *map(str, specs), "--timeout", "1")
    assert result.exit_code == 0, result.output
    names = sorted(c["info"]["name"] for c in postman.workspace_collections(WORKSPACE))
    assert len(names) == len(specs) == len(set(names))  # nothing duplicated
    assert 7.0 in waits  # the Retry-After asked for
    assert (
        len(
            json.loads((project / ".kpn-collections-publish.json").read_text())["workspaces"][
                WORKSPACE
            ]
        )
        == 5
    )
    postman.calls.clear()
    assert publish(servers, *map(str, specs)).exit_code == 0
    assert postman.calls == []


def test_waiting_is_bounded_and_one_failure_does_not_stop_the_others(
    servers: tuple[FakePostman, str], postman: FakePostman, waits: list[float], project: Path
) -> None:
    specs = require_corpus()[:3]
    postman.inject("POST", "/collections", "429", retry_after="100", times=1)
    result = publish(servers, *map(str, specs), "--max-wait", "50")
    assert result.exit_code == 1
    assert (
        "gave up: waiting 100 s more would pass the 50 s this run may wait in all" in result.stderr
    )
    assert f"{specs[0]}: FAILED; not published" in result.stderr
    assert len(postman.workspace_collections(WORKSPACE)) == 2
    assert waits == []
    assert "3 spec(s): 2 created, 0 unchanged, 1 failed" in result.stderr


def test_a_collection_over_the_size_limit_is_not_sent(
    servers: tuple[FakePostman, str],
    postman: FakePostman,
    monkeypatch: pytest.MonkeyPatch,
    project: Path,
) -> None:
    spec = copy_features(project)
    monkeypatch.setattr(publish_api, "MAX_COLLECTION_BYTES", 1000)
    result = publish(servers, str(spec))
    assert result.exit_code == 1
    assert "error [publish-too-large]: the collection is " in result.stderr
    assert (
        "bytes as sent, over the 1,000 bytes (100 MB) Postman's API accepts; nothing was sent"
        in result.stderr
    )
    assert "split the spec" in result.stderr
    assert postman.writes() == []


# --- the API key
# ------------------------------------------------------------------------------------------


def test_wrong_api_key_is_a_clear_error_without_the_key(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    wrong = "PMAK-wrong-but-secret-0123456789"
    result = publish(servers, str(spec), key=wrong)
    assert result.exit_code == 1
    assert (
        "answered 401" in result.stderr and "check the API key in POSTMAN_API_KEY" in result.stderr
    )
    assert wrong not in result.output and wrong not in result.stderr
    assert postman.writes() == []


def test_missing_api_key_is_a_usage_error(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    result = publish(servers, str(spec), key="")
    assert result.exit_code == 2
    assert "set the environment variable POSTMAN_API_KEY" in result.stderr


def test_api_url_and_workspace_are_not_settings_file_keys(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    (project / ".kpn-collections.yaml").write_text(
        "specs: [specs]\npostman-api-url: https://evil.example\n"
    )
    result = publish(servers)
    assert result.exit_code == 2
    assert "is for the command line only" in result.stderr
    (project / ".kpn-collections.yaml").write_text(
        "specs: [specs]\npublish-state: postman/state.json\n"
    )
    result = publish(servers)
    assert result.exit_code == 0, result.output
    assert f"{spec.relative_to(project)}: created collection" in result.stderr
    assert (
        "specs/features.yaml"
        in json.loads((project / "postman" / "state.json").read_text())["workspaces"][WORKSPACE]
    )


def test_prism_refuses_what_postmans_definition_does_not_allow(
    servers: tuple[FakePostman, str], postman: FakePostman
) -> None:
    """The guard itself: a request the definition forbids never reaches the fake."""
    _, url = servers
    client = publish_api.PostmanApi(url, API_KEY, sleep=lambda s: None)
    with pytest.raises(publish_api.ApiError, match="answered 422"):
        client.create(WORKSPACE, {"info": {"name": 5}, "item": "not a list"})
    assert [c.method for c in postman.calls] == [
        "GET"
    ]  # the workspace listing before it; no POST arrived


# --- threat model: the state file comes with the repository
# ------------------------------------------------


def test_a_state_file_pointing_outside_the_workspace_is_refused(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    assert publish(servers, str(spec)).exit_code == 0
    postman.add_workspace("someone-elses", "Another team")
    postman.workspaces["someone-elses"]["collections"].append("12345678-theirs")
    postman.collections["12345678-theirs"] = {
        "info": {"name": "Theirs", "_postman_id": "theirs", "uid": "12345678-theirs"},
        "item": [],
    }
    state_file = project / ".kpn-collections-publish.json"
    state_file.write_text(
        state_file.read_text().replace(the_collection(postman)[0], "12345678-theirs")
    )
    rename_health_check(spec, "Liveness")
    postman.calls.clear()
    result = publish(servers, str(spec))
    assert result.exit_code == 1
    assert (
        "says this spec's collection is 12345678-theirs, which is not in workspace" in result.stderr
    )
    assert postman.writes() == [] and postman.collections["12345678-theirs"]["item"] == []


def test_an_answer_quoting_the_api_key_is_shown_without_it(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    postman.inject(
        "POST", "/collections", "5xx", status=400, message=f"bad request from key {API_KEY}"
    )
    result = publish(servers, str(spec))
    assert result.exit_code == 1
    assert "answered 400 (serverError: bad request from key <POSTMAN_API_KEY>)" in result.stderr
    assert API_KEY not in result.output


def test_the_console_script_publishes_and_never_shows_the_key(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    _, url = servers
    command = [*console_script(), "publish", str(spec), "--workspace", WORKSPACE]
    wrong = "PMAK-not-the-right-one-42"
    refused = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
        env={**os.environ, "POSTMAN_API_KEY": wrong, "POSTMAN_API_URL": url},
    )
    assert refused.returncode == 1, refused.stderr
    assert "error [publish-workspace]: cannot read workspace" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
        env={**os.environ, "POSTMAN_API_KEY": API_KEY, "POSTMAN_API_URL": url},
    )
    assert done.returncode == 0, done.stderr
    assert "created collection 'Features - KPN'" in done.stderr
    assert API_KEY not in done.stdout + done.stderr


def test_a_run_stopped_right_after_a_create_updates_that_collection_next_time(
    servers: tuple[FakePostman, str],
    postman: FakePostman,
    monkeypatch: pytest.MonkeyPatch,
    project: Path,
) -> None:
    spec = copy_features(project)
    fetch = publish_api.PostmanApi.collection

    def interrupted(self: publish_api.PostmanApi, uid: str) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(publish_api.PostmanApi, "collection", interrupted)
    stopped = publish(servers, str(spec))
    assert stopped.exit_code == 130
    assert "holds every collection published until then" in stopped.stderr
    uid, _ = the_collection(postman)
    monkeypatch.setattr(publish_api.PostmanApi, "collection", fetch)
    again = publish(servers, str(spec))
    assert again.exit_code == 0, again.output
    assert f"updated collection {uid}" in again.stderr
    assert len(postman.workspace_collections(WORKSPACE)) == 1


def test_state_keys_are_relative_to_the_repository_whatever_the_working_directory(
    servers: tuple[FakePostman, str],
    postman: FakePostman,
    monkeypatch: pytest.MonkeyPatch,
    project: Path,
) -> None:
    spec = copy_features(project)
    monkeypatch.chdir(spec.parent)
    assert publish(servers, "features.yaml").exit_code == 0
    state = json.loads((project / ".kpn-collections-publish.json").read_text())
    assert list(state["workspaces"][WORKSPACE]) == ["specs/features.yaml"]
    monkeypatch.chdir(project)
    postman.calls.clear()
    assert "unchanged" in publish(servers, "specs/features.yaml").stderr
    assert postman.calls == []


def test_json_report_for_ci(
    servers: tuple[FakePostman, str], postman: FakePostman, project: Path
) -> None:
    spec = copy_features(project)
    result = publish(servers, str(spec), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stderr)
    assert report["summary"]["created"] == 1 and report["summary"]["specs"] == 1
    [entry] = report["collections"]
    assert entry["outcome"] == "created" and entry["ok"] is True and entry["source"] == str(spec)
