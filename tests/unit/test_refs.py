"""SwaggerHub "Unresolved" references: relative files, SwaggerHub domains and APIs, recursion,
offline.

Each resolvable fixture in fixtures/refs/ converts into exactly the collection its hand-resolved
single-file equivalent (fixtures/refs/<case>/resolved/) gives, validates against Postman's schema
and runs in newman. Each broken fixture fails with one located error per problem, exit code 1 and no
output file.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kpn_collections import Settings, convert_file
from kpn_collections.diagnostics import Severity
from kpn_collections.load.document import load_document
from kpn_collections.pipeline import bundle_file, inject_file
from kpn_collections.refs import retrieve
from kpn_collections.refs.resolve import iter_refs
from kpn_collections.refs.retrieve import (
    DefaultRetriever,
    FileRetriever,
    MirrorRetriever,
    RetrievalError,
    Retrieved,
    file_uri,
    https_fetch,
)
from kpn_collections.write import dumps

from ..acceptance.test_cli import run
from ..conftest import FIXTURES
from ..e2e.test_token_flow import assert_token_flow_works, own_token_paths, run_against_gateway
from ..helpers import count_operations, operation_requests, schema_errors
from ..support.gateway import Gateway
from ..support.newman import require_newman

REFS = FIXTURES / "refs"
RESOLVABLE = sorted(p for p in REFS.iterdir() if p.is_dir() and p.name != "broken")
BROKEN = sorted(p for p in (REFS / "broken").iterdir() if p.is_dir())


def root_spec(case: Path) -> Path:
    return next(case.glob("spec.*"))


def settings_for(case: Path, **extra: Any) -> Settings:
    mirror = case / "mirror"
    return Settings(ref_mirror=mirror if mirror.is_dir() else None, **extra)


def converted(spec: Path, settings: Settings, **kwargs: Any) -> dict[str, Any]:
    result = convert_file(spec, settings, **kwargs)
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert [d.format() for d in result.diagnostics if d.severity is not Severity.INFO] == []
    return result.collection


def no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the network was touched")


def test_fixtures_cover_every_format_and_kind_of_reference() -> None:
    names = {case.name for case in RESOLVABLE}
    assert {
        "multi-file-swagger20",
        "multi-file-oas30",
        "multi-file-oas31",
        "swaggerhub-domain",
        "swaggerhub-domain-swagger20",
    } <= names
    assert {case.name for case in BROKEN} >= {
        "escaping-path",
        "missing-file",
        "missing-pointer",
        "unmirrored-remote",
    }
    texts = "\n".join(
        path.read_text(encoding="utf-8")
        for case in RESOLVABLE
        for path in case.rglob("*")
        if path.is_file()
    )
    for needle in (
        "../models/",
        "~1",
        "~0",
        "%20",
        "https://api.swaggerhub.com/domains/",
        "https://api.swaggerhub.com/apis/",
        "/v1/domains/",
        "#/definitions/",
        "#/parameters/",
        "#/responses/",
    ):
        assert needle in texts, needle


@pytest.mark.parametrize("case", RESOLVABLE, ids=lambda p: p.name)
def test_multi_file_spec_converts_like_its_hand_resolved_equivalent(case: Path) -> None:
    spec = root_spec(case)
    settings = settings_for(case)
    collection = converted(spec, settings)
    equivalent = converted(case / "resolved" / spec.name, settings)
    assert dumps(collection) == dumps(equivalent)
    assert schema_errors(collection) == []
    resolved = load_document(case / "resolved" / spec.name).data
    assert len(operation_requests(collection)) == count_operations(resolved) > 0


@pytest.mark.parametrize("case", RESOLVABLE, ids=lambda p: p.name)
def test_multi_file_collections_run_in_newman(case: Path) -> None:
    require_newman()
    collection = converted(root_spec(case), settings_for(case))
    with Gateway(own_token_paths=own_token_paths(collection)) as gateway:
        run_ = run_against_gateway(collection, gateway)
        assert_token_flow_works(collection, run_, gateway)


@pytest.mark.parametrize("case", BROKEN, ids=lambda p: p.name)
def test_unresolvable_refs_fail_located_with_exit_1_and_no_file(case: Path, tmp_path: Path) -> None:
    spec = root_spec(case).relative_to(FIXTURES.parent)
    completed = run("convert", str(spec), "-o", str(tmp_path / "out"))
    assert completed.returncode == 1, completed.stderr
    assert not (tmp_path / "out").exists()
    errors = [line for line in completed.stderr.splitlines() if ": error [" in line]
    expected = (case / "expected.diagnostics.txt").read_text(encoding="utf-8").splitlines()
    assert errors == expected
    for line in errors:  # file:line:column: error [code] at #/pointer: ...
        location = line.split(": error [", 1)[0]
        assert location.rsplit(":", 2)[1].isdecimal(), line
        assert " at #/" in line


def test_each_escape_is_its_own_error() -> None:
    expected = (REFS / "broken" / "escaping-path" / "expected.diagnostics.txt").read_text(
        encoding="utf-8"
    )
    assert expected.count("[ref-outside-root]") == 3
    assert "/etc/passwd is outside the reference root" in expected


def test_unmirrored_remote_error_names_url_and_both_fixes(tmp_path: Path) -> None:
    spec = root_spec(REFS / "broken" / "unmirrored-remote")
    for settings in (Settings(), Settings(ref_mirror=tmp_path)):
        result = convert_file(spec, settings, fetch_remote=no_network)
        [error] = result.errors
        assert error.code == "ref-remote-not-allowed"
        assert "https://api.swaggerhub.com/domains/kpn/not-mirrored/1.0.0" in error.message
        assert "--ref-mirror" in error.hint and "--allow-remote-refs" in error.hint
        assert error.line == 15


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    api = tmp_path / "api"
    api.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("Order: {type: object}\n", encoding="utf-8")
    (api / "models.yaml").symlink_to(secret)
    spec = api / "spec.yaml"
    spec.write_text(minimal_spec("./models.yaml#/Order"), encoding="utf-8")
    result = convert_file(spec)
    assert [e.code for e in result.errors] == ["ref-outside-root"]
    assert result.errors[0].line is not None
    # widening the root to the directory that holds the real file makes it readable
    assert convert_file(spec, Settings(ref_root=tmp_path)).collection is not None


def test_ref_root_widens_where_files_may_be_read(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "models.yaml").write_text("Order: {type: object}\n", encoding="utf-8")
    spec = tmp_path / "api" / "spec.yaml"
    spec.write_text(minimal_spec("../shared/models.yaml#/Order"), encoding="utf-8")
    completed = run("convert", str(spec), "-o", str(tmp_path / "out"))
    assert completed.returncode == 1 and "[ref-outside-root]" in completed.stderr
    completed = run("convert", str(spec), "-o", str(tmp_path / "out"), "--ref-root", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "spec.postman_collection.json").exists()


def test_conversion_without_allow_remote_refs_never_opens_a_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    for case in RESOLVABLE:  # mirrored domains and local files
        converted(root_spec(case), settings_for(case), fetch_remote=no_network)
    unmirrored = convert_file(
        root_spec(REFS / "broken" / "unmirrored-remote"), fetch_remote=no_network
    )
    assert [e.code for e in unmirrored.errors] == ["ref-remote-not-allowed"]
    # and the default fetcher is not called either: the socket patch would raise inside it
    assert [
        e.code for e in convert_file(root_spec(REFS / "broken" / "unmirrored-remote")).errors
    ] == ["ref-remote-not-allowed"]


def test_allow_remote_refs_fetches_each_document_once_and_matches_the_mirror() -> None:
    case = REFS / "swaggerhub-domain"
    mirror = MirrorRetriever.open(case / "mirror")
    fetched: list[str] = []

    def fake_https(url: str) -> bytes:
        fetched.append(url)
        found = mirror.find(url)
        assert found is not None, url
        return found.read_bytes()

    remote = converted(root_spec(case), Settings(allow_remote_refs=True), fetch_remote=fake_https)
    assert sorted(fetched) == sorted(set(fetched)) and len(fetched) == 4
    assert dumps(remote) == dumps(converted(root_spec(case), settings_for(case)))


def test_every_referenced_file_is_retrieved_once() -> None:
    case = REFS / "multi-file-oas30"
    spec = root_spec(case)
    inner = DefaultRetriever(FileRetriever(case))
    calls: list[str] = []

    def counting(uri: str) -> Retrieved:
        calls.append(uri)
        return inner(uri)

    converted(spec, Settings(), retriever=counting)
    # paths/orders, components, models/{order,money,category,tree}, odd
    assert len(calls) == len(set(calls)) == 7


def test_swaggerhub_api_key_is_sent_and_never_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sent: list[tuple[str, str | None]] = []
    domain = (
        REFS
        / "swaggerhub-domain"
        / "mirror"
        / "api.swaggerhub.com"
        / "domains"
        / "kpn"
        / "common"
        / "1.0.0.yaml"
    ).read_bytes()

    def fake_https(
        url: str, *, api_key: str | None = None, api_key_host: str = "", **kwargs: Any
    ) -> bytes:
        sent.append((url, api_key if api_key_host == "api.swaggerhub.com" else None))
        return domain

    monkeypatch.setattr(retrieve, "https_fetch", fake_https)
    monkeypatch.setenv("SWAGGERHUB_API_KEY", "sh-secret-key-123")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(
            "https://api.swaggerhub.com/domains/kpn/common/1.0.0#/components/schemas/Error"
        ),
        encoding="utf-8",
    )
    completed_collection = converted(spec, Settings(allow_remote_refs=True))
    assert sent == [("https://api.swaggerhub.com/domains/kpn/common/1.0.0", "sh-secret-key-123")]
    assert "sh-secret-key-123" not in dumps(completed_collection)
    with pytest.raises(RetrievalError, match="not an https URL"):
        https_fetch("http://api.swaggerhub.com/domains/kpn/common/1.0.0")


def test_mirror_lookup_suffixes_prefixes_and_confinement(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("{}", encoding="utf-8")
    tmp_path = tmp_path / "mirror"
    (tmp_path / "host.example" / "specs").mkdir(parents=True)
    (tmp_path / "host.example" / "specs" / "a.json").write_text("{}", encoding="utf-8")
    (tmp_path / "host.example" / "specs" / "b.yaml").write_text("{}", encoding="utf-8")
    (tmp_path / "mapped").mkdir()
    (tmp_path / "mapped" / "c.yml").write_text("{}", encoding="utf-8")
    (tmp_path / "prefixes.yaml").write_text(
        "https://other.example/deep/path/: mapped/\n", encoding="utf-8"
    )
    mirror = MirrorRetriever.open(tmp_path)
    assert (
        mirror.find("https://host.example/specs/a")
        == (tmp_path / "host.example/specs/a.json").resolve()
    )
    assert (
        mirror.find("https://HOST.example/specs/b.yaml?x=1")
        == (tmp_path / "host.example/specs/b.yaml").resolve()
    )
    assert mirror.find("https://other.example/deep/path/c") == (tmp_path / "mapped/c.yml").resolve()
    assert mirror.find("https://host.example/specs/../../../secret.yaml") is None
    assert mirror.find("https://host.example/nothing") is None


def _convert_with_mirror(mirror: Path) -> subprocess.CompletedProcess[str]:
    return run(
        "convert",
        str(root_spec(REFS / "swaggerhub-domain")),
        "-o",
        str(mirror / "out"),
        "--ref-mirror",
        str(mirror),
    )


def test_bad_mirror_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "prefixes.yaml").write_text("- not a mapping\n", encoding="utf-8")
    completed = _convert_with_mirror(tmp_path)
    assert completed.returncode == 2
    assert "prefixes.yaml: must map URL prefixes" in completed.stderr


def test_a_mirror_error_quoting_the_file_cannot_write_to_the_terminal(tmp_path: Path) -> None:
    """The mirror's prefixes.yaml may come from a pull request: the parser's message about it is
    written with its control characters escaped (as every usage error's are), on one line."""
    (tmp_path / "prefixes.yaml").write_text("a: [b\x1b[2J\n", encoding="utf-8")
    completed = _convert_with_mirror(tmp_path)
    assert completed.returncode == 2
    assert "\x1b" not in completed.stderr
    line = next(line for line in completed.stderr.splitlines() if "prefixes.yaml" in line)
    assert "cannot read it" in line and "position" in line, completed.stderr


def test_path_item_that_contains_itself_is_a_located_cycle_error(tmp_path: Path) -> None:
    (tmp_path / "item.yaml").write_text(
        "get:\n  responses: {'200': {description: ok}}\ncallbacks_are_not_here: 1\n"
        "x-next:\n  $ref: './item.yaml'\n",
        encoding="utf-8",
    )
    (tmp_path / "loop.yaml").write_text("$ref: './loop.yaml'\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec("#/components/schemas/X", paths="  /loop:\n    $ref: './loop.yaml'\n"),
        encoding="utf-8",
    )
    result = convert_file(spec)
    assert [e.code for e in result.errors] == ["ref-cycle"]
    assert result.errors[0].file.endswith("loop.yaml") and result.errors[0].line == 1


def test_problems_inside_a_referenced_file_are_reported_in_that_file(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "Order:\n  type: object\n  properties:\n    id:\n"
        "      type: string\n      required: true\n",
        encoding="utf-8",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(minimal_spec("./models.yaml#/Order"), encoding="utf-8")
    result = convert_file(spec)
    assert result.collection is not None
    [warning] = [d for d in result.diagnostics if d.code == "schema-required-boolean"]
    assert warning.file == str(tmp_path / "models.yaml")
    assert (warning.pointer, warning.line) == ("/Order/properties/id/required", 6)


def test_referenced_file_that_does_not_parse_is_reported_where_it_breaks(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("Order:\n  type: [object\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(minimal_spec("./models.yaml#/Order"), encoding="utf-8")
    result = convert_file(spec)
    assert result.collection is None
    assert [e.file for e in result.errors] == [str(tmp_path / "models.yaml")]
    assert result.errors[0].line is not None


def test_recursive_example_bodies_are_cut_cleanly() -> None:
    collection = converted(root_spec(REFS / "multi-file-oas30"), Settings())
    [create] = [r for r in operation_requests(collection) if r["name"] == "Place an order"]
    body = json.loads(create["request"]["body"]["raw"])
    assert body["category"] == {"name": "Mobile", "children": [], "tree": {"label": "string"}}
    bodies = [
        json.dumps(r["request"].get("body", {})).lower() for r in operation_requests(collection)
    ]
    assert not [b for b in bodies if "circular" in b or "recurs" in b or "error" in b]


def test_bundle_command_writes_a_self_contained_valid_document(tmp_path: Path) -> None:
    for case in RESOLVABLE:
        spec = root_spec(case)
        output = tmp_path / case.name / ("bundled" + spec.suffix)
        output.parent.mkdir()
        args = ["bundle", str(spec), "-o", str(output)]
        if (case / "mirror").is_dir():
            args += ["--ref-mirror", str(case / "mirror")]
        completed = run(*args)
        assert completed.returncode == 0, completed.stderr
        bundled = load_document(output).data
        assert all(ref.startswith("#") for _, ref in iter_refs(bundled)), case.name
        # the bundled document is valid on its own, offline, and converts without a single warning
        result = convert_file(output, fetch_remote=no_network)
        assert result.collection is not None and not result.warnings, [
            d.format() for d in result.diagnostics
        ]
        assert len(operation_requests(result.collection)) == len(
            operation_requests(converted(spec, settings_for(case)))
        )


def test_bundle_of_an_unresolvable_spec_writes_nothing(tmp_path: Path) -> None:
    completed = run(
        "bundle", str(root_spec(REFS / "broken" / "missing-file")), "-o", str(tmp_path / "b.yaml")
    )
    assert completed.returncode == 1
    assert "[ref-file-missing]" in completed.stderr
    assert not (tmp_path / "b.yaml").exists()


def test_bundle_is_deterministic_and_leaves_local_only_specs_alone() -> None:
    spec = root_spec(REFS / "multi-file-oas30")
    first, second = bundle_file(spec), bundle_file(spec)
    assert first.text is not None and first.text == second.text
    plain = FIXTURES / "oas30" / "features" / "input.yaml"
    source = load_document(plain)
    assert bundle_file(plain).text == bundle_file(plain).text
    assert json.dumps(load_document(plain).data) == json.dumps(source.data)


def test_inject_follows_external_refs_but_keeps_them(tmp_path: Path) -> None:
    result = inject_file(root_spec(REFS / "multi-file-oas30"))
    assert result.text is not None, [d.format() for d in result.diagnostics]
    assert "$ref: ./paths/orders.yaml" in result.text
    assert "./models/order.yaml#/Order" in result.text


def test_file_uri_round_trips_odd_names(tmp_path: Path) -> None:
    odd = tmp_path / "odd names%.yaml"
    odd.write_text("A: {type: string}\n", encoding="utf-8")
    retrieved = FileRetriever(tmp_path)(file_uri(odd))
    assert retrieved.content == odd.read_bytes()


def minimal_spec(ref: str, *, paths: str = "") -> str:
    """An OpenAPI 3.0 document whose one response body is `$ref: <ref>`."""
    return (
        "openapi: 3.0.3\n"
        "info: {title: Refs, version: 1.0.0}\n"
        "servers: [{url: 'https://api.example.com'}]\n"
        "paths:\n"
        "  /a:\n"
        "    get:\n"
        "      responses:\n"
        "        '200':\n"
        "          description: ok\n"
        "          content:\n"
        "            application/json:\n"
        "              schema:\n"
        f"                $ref: '{ref}'\n"
        + paths
        + "components:\n  schemas:\n    X: {type: object}\n"
    )


@pytest.mark.parametrize(
    "ref", ["file://localhost", "https://[::1/x", "a%00.yaml", "file://otherhost/x.yaml"]
)
def test_malformed_refs_are_located_errors_not_crashes(tmp_path: Path, ref: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(minimal_spec(ref), encoding="utf-8")
    completed = run("convert", str(spec), "-o", str(tmp_path / "out"))
    assert completed.returncode == 1, completed.stderr
    assert "internal error" not in completed.stderr and "Traceback" not in completed.stderr
    assert f"{spec}:13:" in completed.stderr


def test_very_long_reference_chains_fail_cleanly(tmp_path: Path) -> None:
    chain = "".join(
        f"S{i}:\n  type: object\n  properties:\n    n:\n      $ref: '#/S{i + 1}'\n"
        for i in range(400)
    )
    (tmp_path / "m.yaml").write_text(chain + "S400: {type: string}\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(minimal_spec("./m.yaml#/S0"), encoding="utf-8")
    completed = run("convert", str(spec), "-o", str(tmp_path / "out"))
    assert completed.returncode in (0, 1) and "internal error" not in completed.stderr, (
        completed.stderr
    )


def test_root_reached_back_through_a_dotted_path_is_not_copied(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "owner.yaml").write_text(
        "Owner:\n  type: object\n  properties:\n    pet:\n      $ref:"
        " './spec.yaml#/components/schemas/X'\n",
        encoding="utf-8",
    )
    (tmp_path / "api" / "spec.yaml").write_text(
        minimal_spec("./owner.yaml#/Owner"), encoding="utf-8"
    )
    dotted = tmp_path / "api" / ".." / "api" / "spec.yaml"
    result = bundle_file(dotted)
    assert result.text is not None
    assert "$ref: '#/components/schemas/X'" in result.text and "spec_X" not in result.text


def test_external_ref_under_a_property_named_like_a_literal_key_is_bundled(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("X: {type: string, example: from-m}\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec("#/components/schemas/X").replace(
            "    X: {type: object}\n",
            "    X:\n      type: object\n      properties:\n        example:\n          $ref:"
            " './m.yaml#/X'\n",
        ),
        encoding="utf-8",
    )
    result = bundle_file(spec)
    assert result.text is not None and "m.yaml" not in result.text
    assert "from-m" in result.text


def test_ref_lookalikes_in_example_data_stay_data(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec("#/components/schemas/X").replace(
            "    X: {type: object}\n",
            "    X:\n      type: object\n      example:\n        $ref: other.yaml\n"
            "      examples:\n        - $ref: other.yaml\n",
        ),
        encoding="utf-8",
    )
    result = convert_file(spec)
    assert result.collection is not None, [d.format() for d in result.diagnostics]


def test_siblings_of_an_inlined_path_item_are_located_in_their_own_file(tmp_path: Path) -> None:
    (tmp_path / "item.yaml").write_text(
        "get:\n  responses: {'200': {description: ok}}\n", encoding="utf-8"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(
            "#/components/schemas/X",
            paths=(
                "  /b:\n    $ref: './item.yaml'\n    post:\n      parameters:\n        - {name: q,"
                " in: query, schema: {type: string}, required: 7}\n      responses: {'200':"
                " {description: ok}}\n"
            ),
        ),
        encoding="utf-8",
    )
    result = convert_file(spec)
    located = [d for d in result.diagnostics if "/post/" in d.pointer]
    assert located and all(d.file == str(spec) for d in located), [
        d.format() for d in result.diagnostics
    ]


def test_bundled_yaml_has_no_anchors(tmp_path: Path) -> None:
    (tmp_path / "item.yaml").write_text(
        "get:\n  responses:\n    '200':\n      description: ok\n      content:\n       "
        " application/json:\n          example: {a: 1}\n",
        encoding="utf-8",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(
            "#/components/schemas/X",
            paths="  /b:\n    $ref: './item.yaml'\n  /c:\n    $ref: './item.yaml'\n",
        ),
        encoding="utf-8",
    )
    result = bundle_file(spec)
    assert result.text is not None and "&id" not in result.text and "*id" not in result.text
