"""The installed console script: outputs, exit codes, --strict, stdout, template overrides, no
partial files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import FIXTURES, REPO_ROOT
from ..helpers import schema_errors

FEATURES_30 = FIXTURES / "oas30" / "features" / "input.yaml"
WARTS = FIXTURES / "oas30" / "warts" / "input.yaml"


def console_script() -> list[str]:
    """The installed `kpn-collections` entry point (next to this Python), else `python -m
    kpn_collections`."""
    script = Path(sys.executable).parent / "kpn-collections"
    if script.exists():
        return [str(script)]
    found = shutil.which("kpn-collections")
    return [found] if found else [sys.executable, "-m", "kpn_collections"]


def run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*console_script(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_convert_writes_named_collection(tmp_path: Path) -> None:
    completed = run("convert", str(FEATURES_30), "-o", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    output = tmp_path / "input.postman_collection.json"
    collection = json.loads(output.read_text(encoding="utf-8"))
    assert schema_errors(collection) == []
    assert f"wrote {output}" in completed.stderr


def test_second_run_reports_unchanged_and_keeps_mtime(tmp_path: Path) -> None:
    assert run("convert", str(FEATURES_30), "-o", str(tmp_path)).returncode == 0
    output = tmp_path / "input.postman_collection.json"
    os.utime(output, (1_000_000, 1_000_000))
    completed = run("convert", str(FEATURES_30), "-o", str(tmp_path))
    assert completed.returncode == 0
    assert "unchanged" in completed.stderr
    assert output.stat().st_mtime == 1_000_000


def test_stdout_output_is_the_collection() -> None:
    completed = run("convert", str(FEATURES_30), "-o", "-")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["info"]["name"] == "Features - KPN"
    golden = (FIXTURES / "oas30" / "features" / "expected.postman_collection.json").read_text(
        encoding="utf-8"
    )
    assert json.loads(completed.stdout)["item"] == json.loads(golden)["item"]


def test_python_dash_m_works() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "kpn_collections", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    assert "kpn-collections" in completed.stdout


def test_warnings_convert_with_exit_zero(tmp_path: Path) -> None:
    completed = run("convert", str(WARTS), "-o", str(tmp_path))
    assert completed.returncode == 0
    assert "warning [dangling-ref]" in completed.stderr
    assert "input.yaml:35:21:" in completed.stderr
    assert (tmp_path / "input.postman_collection.json").exists()


def test_strict_fails_on_warnings_and_writes_nothing(tmp_path: Path) -> None:
    completed = run("convert", str(WARTS), "-o", str(tmp_path), "--strict")
    assert completed.returncode == 1
    assert "FAILED (warnings are failures with --strict); nothing written" in completed.stderr
    assert list(tmp_path.iterdir()) == []


def test_broken_input_exit_one_located_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\ninfo:\n  title: x\n  title: y\n", encoding="utf-8")
    out = tmp_path / "out"
    completed = run("convert", str(bad), "-o", str(out))
    assert completed.returncode == 1
    assert f"{bad}:4:3: error [duplicate-key]: duplicate key 'title'" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not out.exists()


def test_not_openapi_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("name: just some yaml\n", encoding="utf-8")
    completed = run("convert", str(bad), "-o", str(tmp_path / "out"))
    assert completed.returncode == 1
    assert "error [not-openapi]" in completed.stderr


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("swagger: '1.2'\n", encoding="utf-8")
    completed = run("convert", str(bad), str(FEATURES_30), "-o", str(tmp_path / "out"))
    assert completed.returncode == 1
    assert "error [unsupported-version]" in completed.stderr
    assert (tmp_path / "out" / "input.postman_collection.json").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("convert",),
        ("convert", str(FEATURES_30), "--folders", "nonsense"),
        ("convert", str(FEATURES_30), str(WARTS), "-o", "-"),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_two(args: tuple[str, ...]) -> None:
    completed = run(*args)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    completed = run("convert", str(tmp_path / "nope.yaml"), "-o", str(tmp_path))
    assert completed.returncode == 1
    assert "error [read-failed]" in completed.stderr


def test_folder_modes(tmp_path: Path) -> None:
    names = {}
    for mode in ("tags", "paths", "flat"):
        completed = run("convert", str(FEATURES_30), "-o", "-", "--folders", mode)
        assert completed.returncode == 0, completed.stderr
        names[mode] = [item["name"] for item in json.loads(completed.stdout)["item"]]
    assert names["tags"][:4] == ["Get Access Token", "Customers", "Billing", "Monitoring"]
    assert "customers" in names["paths"] and "payments" in names["paths"]
    assert "List customers" in names["flat"] and "Customers" not in names["flat"]


def test_base_url_option_overrides_servers() -> None:
    completed = run("convert", str(FEATURES_30), "-o", "-", "--base-url", "http://127.0.0.1:9/api/")
    variables = {v["key"]: v["value"] for v in json.loads(completed.stdout)["variable"]}
    assert variables["baseUrl"] == "http://127.0.0.1:9/api"


def test_template_override_replaces_one_template(tmp_path: Path) -> None:
    (tmp_path / "request.description.md.jinja").write_text(
        "Custom: {{ operation.method | upper }}\n", encoding="utf-8"
    )
    completed = run("convert", str(FEATURES_30), "-o", "-", "--templates", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    collection = json.loads(completed.stdout)
    first = collection["item"][1]["item"][0]
    assert first["request"]["description"] == "Custom: GET\n"
    # the other template is packaged
    assert "Generated by kpn-collections" in collection["info"]["description"]


def test_broken_template_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "request.description.md.jinja").write_text(
        "{{ no_such_variable }}\n", encoding="utf-8"
    )
    completed = run(
        "convert", str(FEATURES_30), "-o", str(tmp_path / "out"), "--templates", str(tmp_path)
    )
    assert completed.returncode == 1
    assert "error [template-error]" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_template_in_another_encoding_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "request.description.md.jinja").write_bytes(b"\xff\xfe{{ operation.method }}")
    completed = run(
        "convert", str(FEATURES_30), "-o", str(tmp_path / "out"), "--templates", str(tmp_path)
    )
    assert completed.returncode == 1
    assert (
        f"{tmp_path / 'request.description.md.jinja'}: error [template-error]" in completed.stderr
    )
    assert "cannot be read" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cache", [["--no-cache"], []])
def test_unreadable_template_no_conversion_uses_does_not_stop_a_batch(
    tmp_path: Path, cache: list[str]
) -> None:
    """A batch compiles every template before its workers start: one it cannot read is no problem
    there."""
    templates, specs = tmp_path / "templates", tmp_path / "specs"
    (templates / "drafts").mkdir(parents=True)
    (templates / "drafts" / "old.jinja").write_bytes(b"\xff\xfe{{ x }}")
    (templates / "notes.jinja").mkdir()  # a folder with a template's name
    specs.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(FEATURES_30, specs / f"{name}.yaml")
    completed = run(
        "convert",
        str(specs),
        "-o",
        str(tmp_path / "out"),
        "-j",
        "2",
        "--templates",
        str(templates),
        *cache,
    )
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{name}.postman_collection.json" for name in ("a", "b", "c")
    ]


def test_json_report_format(tmp_path: Path) -> None:
    completed = run("convert", str(WARTS), "-o", str(tmp_path), "--format", "json")
    assert completed.returncode == 0
    report = json.loads(completed.stderr)
    entry = report["files"][0]
    assert entry["ok"] is True
    codes = {d["code"] for d in entry["diagnostics"]}
    assert {
        "dangling-ref",
        "undeclared-path-parameter",
        "schema-required-boolean",
        "oauth-scopes-missing",
    } <= codes
    assert all(d["line"] for d in entry["diagnostics"])


def test_exit_handlers_run_at_the_end_of_a_run(tmp_path: Path) -> None:
    """cli.entry ends through SystemExit, so that the interpreter's exit handlers (atexit, a
    coverage or profiling tool, an embedding program's own) run and the exit code is the
    command's."""
    code = (
        "import atexit, sys\nfrom kpn_collections import cli\natexit.register(lambda: print('exit"
        " handler ran', flush=True))\nsys.argv = ['kpn-collections', 'convert',"
        f" {str(FEATURES_30)!r}, '-o', {str(tmp_path)!r}, '-q']\ncli.entry()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (completed.returncode, completed.stdout) == (0, "exit handler ran\n"), completed.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.3\ninfo: [\n")
    code = code.replace(repr(str(FEATURES_30)), repr(str(broken)))
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (completed.returncode, completed.stdout) == (1, "exit handler ran\n"), completed.stderr


def test_a_run_collects_garbage_less_often(tmp_path: Path) -> None:
    """cli.entry raises the garbage collector's thresholds, freezes what is loaded before the run
    and, when it ends, what is left (the exit's collection has nothing to walk: speed, see
    cli._tune_garbage_collector); the conversion is the same."""
    code = (
        "import gc, sys\nfrom kpn_collections import cli\nsys.argv = ['kpn-collections',"
        f" 'convert', {str(FEATURES_30)!r}, '-o', {str(tmp_path)!r}, '-q']\ntry:\n   "
        " cli.entry()\nexcept SystemExit as done:\n    print(gc.get_threshold(),"
        " gc.get_freeze_count() > 0, len(gc.get_objects()) < 100, done.code)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.split("\n")[-2] == "(100000, 50, 100) True True 0", completed.stdout
    written = next(tmp_path.glob("*.json")).read_bytes()
    assert written == (FEATURES_30.parent / "expected.postman_collection.json").read_bytes()
