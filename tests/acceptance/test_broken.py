"""Broken and hostile input: a located error (file, line, column, pointer, what, hint), exit 1,
nothing written.

Each case is a file in fixtures/broken/ or generated here (the big ones). Cases the converter can
recover from without losing anything (a BOM, `$ref` cycles, duplicate operationIds, a parameter
without `in`) convert with located warnings instead; they are listed separately.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpn_collections.load import document as load

from ..conftest import FIXTURES, REPO_ROOT
from ..helpers import schema_errors

BROKEN = FIXTURES / "broken"
FORMAT = re.compile(
    r"^(?P<file>[^:]+)(?::(?P<line>\d+)(?::(?P<column>\d+))?)?: (?P<severity>error|warning) "
    r"\[(?P<code>[a-z0-9-]+)\](?: at #(?P<pointer>\S*))?: (?P<message>.+?)"
    r"(?: \(hint: (?P<hint>.+)\))?$"
)


@dataclass(frozen=True)
class Expected:
    code: str
    line: int | None
    column: int | None
    message: str  # a part of the message
    pointer: str = ""
    hint: str = ""  # a part of the hint, when not the usual one of the code (HINTS)


ERRORS = {
    "not-yaml.yaml": Expected(
        "yaml-syntax", 2, 17, "not valid YAML: mapping values are not allowed"
    ),
    "empty.yaml": Expected("empty", None, None, "the file is empty"),
    "blank.yaml": Expected("empty", None, None, "the file is empty"),
    "binary.yaml": Expected("not-text", None, None, "the file is binary"),
    "latin1.yaml": Expected("not-utf8", 3, None, "not valid UTF-8 (byte 0xe9)"),
    "several-documents.yaml": Expected("several-documents", 4, 1, "several YAML documents"),
    "list.yaml": Expected("not-a-mapping", 1, None, "the document is a list, not a mapping"),
    "scalar.yaml": Expected("not-a-mapping", 1, None, "a single value (str), not a mapping"),
    "no-version-key.yaml": Expected(
        "not-openapi", 1, 1, "neither a `swagger` nor an `openapi` key"
    ),
    "openapi-4.yaml": Expected(
        "unsupported-version", 1, 10, "OpenAPI version '4.0.0' is not supported", "/openapi"
    ),
    "swagger-1.2.yaml": Expected(
        "unsupported-version", 1, 10, "Swagger version '1.2' is not supported", "/swagger"
    ),
    "duplicate-key.yaml": Expected("duplicate-key", 6, 1, "duplicate key 'info'"),
    "tabs.yaml": Expected(
        "yaml-syntax",
        3,
        1,
        "found character that cannot start any token",
        hint="YAML does not allow tabs for indentation; use spaces",
    ),
    "bad-indentation.yaml": Expected("yaml-syntax", 4, 12, "mapping values are not allowed"),
    "unclosed-quote.yaml": Expected("yaml-syntax", 4, 13, "did not find expected key"),
    "billion-laughs.yaml": Expected("alias-bomb", 1, 38, "expands to more than 2,000,000 nodes"),
    "recursive-alias.yaml": Expected("recursive-alias", 4, 9, "refers to a node that contains it"),
    "paths-list.yaml": Expected("paths-not-mapping", 4, 3, "`paths` is a list", "/paths"),
    "operation-string.yaml": Expected(
        "operation-not-mapping",
        5,
        10,
        "the GET operation of /a is the text 'list the things'",
        "/paths/~1a/get",
    ),
    "unknown-method.yaml": Expected(
        "unknown-method", 6, 7, "'fetch' under /a is not an HTTP method", "/paths/~1a/fetch"
    ),
    "ref-not-string.yaml": Expected(
        "ref-not-string",
        8,
        17,
        "`$ref` must be a string, not int",
        "/paths/~1a/get/responses/200/$ref",
    ),
}
HINTS = {  # the hint of each code names the fix
    "yaml-syntax": "check indentation and quoting",
    "empty": "export the API definition again",
    "not-text": "export the API from SwaggerHub as YAML or JSON",
    "not-utf8": "save the file as UTF-8",
    "several-documents": "one API definition per file",
    "not-a-mapping": "starts with `openapi:`",
    "not-openapi": "SwaggerHub exports start with",
    "unsupported-version": "use ",
    "duplicate-key": "remove or rename",
    "alias-bomb": "remove the repeated `*alias`",
    "recursive-alias": "use $ref for recursive structures",
    "paths-not-mapping": "`/path: {get: ...}`",
    "operation-not-mapping": "write the operation as a mapping",
    "unknown-method": "use one of get, put, post",
    "ref-not-string": "write the reference as",
    "too-deep": "flatten the structure",
    "too-large": "split the definition",
    "json-syntax": "commas, quotes",
}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpn_collections", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def parsed(stderr: str) -> list[dict[str, str]]:
    """The diagnostic lines of stderr, split into their parts (every one must have the documented
    shape)."""
    lines = [line for line in stderr.splitlines() if "error [" in line or "warning [" in line]
    matches = [FORMAT.match(line) for line in lines]
    assert all(matches), lines
    return [m.groupdict() for m in matches if m]


def assert_located_failure(
    spec: Path, expected: Expected, output: Path, *, timeout: float = 120
) -> None:
    completed = run_cli("convert", str(spec), "-o", str(output), "--no-cache", timeout=timeout)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    errors = [d for d in parsed(completed.stderr) if d["severity"] == "error"]
    assert len(errors) == 1, completed.stderr
    [error] = errors
    assert error["file"] == str(spec)
    assert error["code"] == expected.code
    assert (error["line"], error["column"]) == (_text(expected.line), _text(expected.column))
    assert (error["pointer"] or "") == expected.pointer
    assert expected.message in error["message"], error["message"]
    assert error["hint"] and (expected.hint or HINTS[expected.code]) in error["hint"], error["hint"]
    assert f"{spec}: FAILED (1 error(s)); nothing written" in completed.stderr
    assert not output.exists() or list(output.iterdir()) == []


def _text(number: int | None) -> str | None:
    return None if number is None else str(number)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_broken_fixture_is_a_located_error(name: str, tmp_path: Path) -> None:
    assert_located_failure((BROKEN / name).relative_to(REPO_ROOT), ERRORS[name], tmp_path / "out")


def test_every_broken_fixture_is_covered() -> None:
    covered = set(ERRORS) | set(WARNINGS) | {"bom.yaml"}
    assert {p.name for p in BROKEN.iterdir() if p.suffix in (".yaml", ".json")} == covered


WARNINGS = {
    "circular-ref-1.yaml": (
        "ref-cycle",
        "/paths/~1a/get/responses/200/content/application~1json/schema/$ref",
        (
            "`$ref` cycle of 1 reference(s) never reaches a definition: #/components/schemas/A -> "
            "#/components/schemas/A"
        ),
    ),
    "parameter-without-in.yaml": (
        "parameter-without-in",
        "/paths/~1a/get/parameters/0/in",
        "parameter 'q' has no `in`; it is sent as a query parameter",
    ),
}


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_recoverable_breakage_converts_with_one_located_warning(name: str, tmp_path: Path) -> None:
    code, pointer, message = WARNINGS[name]
    completed = run_cli("convert", f"fixtures/broken/{name}", "-o", str(tmp_path), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    found = [d for d in parsed(completed.stderr) if d["code"] == code]
    assert [(d["pointer"], d["message"]) for d in found] == [(pointer, message)]
    assert found[0]["line"] and found[0]["hint"]
    assert {d["code"] for d in parsed(completed.stderr)} == {code, "no-server"}
    [written] = tmp_path.iterdir()
    assert schema_errors(json.loads(written.read_text(encoding="utf-8"))) == []


def test_bom_is_fine(tmp_path: Path) -> None:
    completed = run_cli("convert", "fixtures/broken/bom.yaml", "-o", str(tmp_path), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    assert parsed(completed.stderr) == []
    collection = json.loads((tmp_path / "bom.postman_collection.json").read_text(encoding="utf-8"))
    assert collection["info"]["name"] == "BOM"


# --- generated cases: sizes, depth, counts
# -----------------------------------------------------------


def spec_text(extra: str = "", title: str = "Generated") -> str:
    return (
        f'openapi: 3.0.3\ninfo: {{title: {title}, version: "1"}}\nservers: [{{url:'
        ' "https://x.test"}]\npaths: {}\n' + extra
    )


@pytest.mark.parametrize("kind", ["json", "yaml-flow", "yaml-block"])
def test_very_deep_nesting_is_a_located_error(kind: str, tmp_path: Path) -> None:
    if kind == "json":
        depth = 50_000
        spec = tmp_path / "deep.json"
        spec.write_text(
            '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, "x": '
            + "[" * depth
            + "]" * depth
            + "}",
            encoding="utf-8",
        )
        expected = Expected("too-deep", 1, 1079, "nests deeper than 200 levels")
    elif kind == "yaml-flow":
        depth = 50_000
        spec = tmp_path / "deep.yaml"
        spec.write_text(spec_text("x: " + "[" * depth + "]" * depth + "\n"), encoding="utf-8")
        expected = Expected("too-deep", 5, 1003, "nests deeper than 200 levels")
    else:
        spec = tmp_path / "deep.yaml"
        spec.write_text(
            spec_text("x:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300))),
            encoding="utf-8",
        )
        expected = Expected("too-deep", 206, 403, "nests deeper than 200 levels")
    assert_located_failure(spec, expected, tmp_path / "out")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    with spec.open("wb") as handle:
        handle.write(spec_text().encode())
        handle.truncate(load.MAX_FILE_BYTES + 1)  # sparse: costs no disk space or time
    assert_located_failure(
        spec, Expected("too-large", None, None, "larger than 100 MiB"), tmp_path / "out"
    )


def test_json_syntax_errors_are_located_as_json(tmp_path: Path) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(
        '{\n  "openapi": "3.0.3",\n  "info": {"title": "x" "version": "1"},\n  "paths": {}\n}\n',
        encoding="utf-8",
    )
    assert_located_failure(
        spec,
        Expected("json-syntax", 3, 25, "not valid JSON: Expecting ',' delimiter"),
        tmp_path / "out",
    )


def test_huge_single_string_converts(tmp_path: Path) -> None:
    spec = tmp_path / "long.yaml"
    spec.write_text(
        spec_text(title="Long").replace("paths: {}", f'paths: {{}}\nx-blob: "{"a" * 20_000_000}"'),
        encoding="utf-8",
    )
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "long.postman_collection.json").stat().st_size < 100_000


def test_a_million_keys_convert(tmp_path: Path) -> None:
    spec = tmp_path / "keys.json"
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Keys", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
        "x-keys": {f"k{i}": i for i in range(1_000_000)},
    }
    spec.write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    collection = json.loads(
        (tmp_path / "out" / "keys.postman_collection.json").read_text(encoding="utf-8")
    )
    assert [item["name"] for item in collection["item"]] == ["Get Access Token", "GET /a"]


def test_a_thousand_step_ref_cycle_is_one_warning(tmp_path: Path) -> None:
    schemas = {f"S{i}": {"$ref": f"#/components/schemas/S{(i + 1) % 1000}"} for i in range(1000)}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Chain", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}
                            },
                        }
                    }
                }
            }
        },
        "components": {"schemas": schemas},
    }
    spec = tmp_path / "chain.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    [warning] = parsed(completed.stderr)
    assert warning["code"] == "ref-cycle" and "cycle of 1000 reference(s)" in warning["message"]
    assert (
        warning["pointer"] == "/paths/~1a/get/responses/200/content/application~1json/schema/$ref"
    )


def test_thousands_of_operations_sharing_an_operation_id(tmp_path: Path) -> None:
    paths = {
        f"/p{i}": {"get": {"operationId": "same", "responses": {"200": {"description": "ok"}}}}
        for i in range(2000)
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Ids", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": paths,
    }
    spec = tmp_path / "ids.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr
    [warning] = parsed(completed.stderr)
    assert (
        warning["code"] == "duplicate-operation-id"
        and warning["pointer"] == "/paths/~1p1/get/operationId"
    )
    assert warning["message"].endswith("#/paths/~1p3/get/operationId and 1996 more")
    collection = json.loads(
        (tmp_path / "out" / "ids.postman_collection.json").read_text(encoding="utf-8")
    )
    ids = [item["id"] for item in collection["item"]]
    assert len(ids) == len(set(ids)) == 2001


# --- output safety
# -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "naming", ["../{stem}.json", "sub/{stem}.json", "{stem}{nope}.json", "{stem"]
)
def test_output_names_that_leave_the_output_directory_are_refused(
    naming: str, tmp_path: Path
) -> None:
    completed = run_cli(
        "convert", "fixtures/broken/bom.yaml", "-o", str(tmp_path / "out"), "--naming", naming
    )
    assert completed.returncode == 2
    assert "Invalid value for --naming" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_spec_paths_with_dots_stay_inside_the_output_directory(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.yaml").write_text(spec_text(), encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            "../../x.yaml",
            "-o",
            "out",
            "--no-cache",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path / "a" / "b",
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert [p.name for p in (tmp_path / "a" / "b" / "out").iterdir()] == [
        "x.postman_collection.json"
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.usefixtures("ctrl_c_acts")
def test_ctrl_c_mid_batch_leaves_whole_files_and_no_temp_files(jobs: str, tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    big = {
        "openapi": "3.0.3",
        "info": {"title": "Slow", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            f"/p{i}/{{id}}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
            for i in range(400)
        },
    }
    for number in range(12):
        (specs / f"api{number:02d}.json").write_text(json.dumps(big), encoding="utf-8")
    output = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            str(specs),
            "-o",
            str(output),
            "--no-cache",
            "-j",
            jobs,
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (output.is_dir() and any(output.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends the whole process group on Ctrl-C
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    written = sorted(output.iterdir())
    # no temp files
    assert written and all(p.name.endswith(".postman_collection.json") for p in written), written
    for path in written:
        assert schema_errors(json.loads(path.read_text(encoding="utf-8"))) == []
    if process.returncode == 130:
        assert "interrupted after" in stderr and len(written) < 12
    else:  # the batch finished before the signal arrived (a very fast machine)
        assert process.returncode == 0 and len(written) == 12


@pytest.mark.parametrize("via", ["properties", "allOf", "items", "nesting"])
def test_deep_schemas_convert_without_recursion_errors(via: str, tmp_path: Path) -> None:
    """Schemas nested 1,000 `$ref`s deep (or 95 literal levels, under the loader's depth limit of
    200), used as a request body and a response: contract tests and examples stay bounded."""
    if via == "nesting":
        schema: dict[str, object] = {"type": "string"}
        for _ in range(95):
            schema = {"type": "object", "properties": {"c": schema}}
        schemas = {"S0": schema}
    else:

        def link(i: int) -> dict[str, object]:
            ref = {"$ref": f"#/components/schemas/S{i + 1}"}
            if via == "properties":
                return {"type": "object", "properties": {"c": ref}}
            if via == "items":
                return {"type": "array", "items": ref}
            return {
                "allOf": [ref, {"type": "object", "properties": {f"p{i}": {"type": "integer"}}}]
            }

        schemas = {f"S{i}": link(i) for i in range(1000)}
        schemas["S1000"] = {"type": "string"}
    use = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Deep", "version": "1"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            "/a": {"post": {"requestBody": use, "responses": {"200": {"description": "ok", **use}}}}
        },
        "components": {"schemas": schemas},
    }
    spec = tmp_path / "deep.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    completed = run_cli("convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr and "internal error" not in completed.stderr
    collection = json.loads(
        (tmp_path / "out" / "deep.postman_collection.json").read_text(encoding="utf-8")
    )
    assert schema_errors(collection) == []


def test_python_data_no_file_can_hold_is_a_located_error() -> None:
    from kpn_collections import convert_document

    schema: dict[str, object] = {"type": "object"}
    schema["properties"] = {"self": schema}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Cycle", "version": "1"},
        "paths": {},
        "components": {"schemas": {"S": schema}},
    }
    [error] = convert_document(document).diagnostics
    assert (error.code, error.pointer) == ("not-json-data", "/components/schemas/S/properties/self")
    assert "contains itself" in error.message and error.hint
    [error] = convert_document(
        {
            "openapi": "3.0.3",
            "info": {"title": "Keys", "version": "1"},
            "paths": {"/a": {"get": {"responses": {200: {"description": "ok"}}}}},
        }
    ).diagnostics
    assert (error.code, error.pointer) == ("not-json-data", "/paths/~1a/get/responses")
    assert error.message == "the key 200 is not a string"


def test_infinite_and_nan_examples_become_json_null(tmp_path: Path) -> None:
    spec = tmp_path / "inf.yaml"
    spec.write_text(
        spec_text(title="Inf").replace(
            "paths: {}",
            """paths:
  /a:
    post:
      requestBody:
        content:
          application/json:
            example: {big: .inf, odd: .nan, fine: 1.5}
      responses:
        "200": {description: ok, content: {application/json: {example: .nan}}}""",
        ),
        encoding="utf-8",
    )
    completed = run_cli("convert", str(spec), "-o", "-", "--no-cache")
    assert completed.returncode == 0, completed.stderr
    [request] = [i for i in json.loads(completed.stdout)["item"] if i["name"] == "POST /a"]
    assert json.loads(request["request"]["body"]["raw"]) == {"big": None, "odd": None, "fine": 1.5}
    assert request["response"][0]["body"] == "null"
