"""Batch conversion through the installed console script: discovery, output tree, order, summary,
exit codes, --check, the JSON report, the settings file and the cache."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from kpn_collections.config import ConfigError, find_config, glob_matches, load_config
from kpn_collections.naming import glob_base

from ..acceptance.test_cli import run
from ..conftest import CORPUS, FIXTURES, require_corpus
from ..helpers import schema_errors

FEATURES_30 = FIXTURES / "oas30" / "features" / "input.yaml"
SWAGGER_20 = FIXTURES / "swagger20" / "features" / "input.yaml"
OAS_31 = FIXTURES / "oas31" / "features" / "input.json"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """specs/ with nested specs, a model file and an unrelated YAML file beside them."""
    specs = tmp_path / "specs"
    (specs / "billing" / "v2").mkdir(parents=True)
    (specs / "orders").mkdir()
    shutil.copy(FEATURES_30, specs / "orders" / "orders.yaml")
    shutil.copy(SWAGGER_20, specs / "billing" / "v2" / "billing.yaml")
    shutil.copy(OAS_31, specs / "catalogue.json")
    (specs / "orders" / "models.yaml").write_text("Order: {type: object}\n", encoding="utf-8")
    (specs / "mkdocs.yml").write_text("site_name: docs\n", encoding="utf-8")
    (specs / ".hidden").mkdir()
    shutil.copy(FEATURES_30, specs / ".hidden" / "ignored.yaml")
    return tmp_path


def test_directory_is_searched_and_its_tree_mirrored(tree: Path) -> None:
    completed = run("convert", "specs", "-o", "out", "--jobs", "2", cwd=tree)
    assert completed.returncode == 0, completed.stderr
    written = sorted(p.relative_to(tree / "out").as_posix() for p in (tree / "out").rglob("*.json"))
    assert written == [
        "billing/v2/billing.postman_collection.json",
        "catalogue.postman_collection.json",
        "orders/orders.postman_collection.json",
    ]
    for path in (tree / "out").rglob("*.json"):
        assert schema_errors(json.loads(path.read_text(encoding="utf-8"))) == []
    # results in input order (sorted walk) whatever order the processes finish in, then the summary
    sources = [line.split(":")[0] for line in completed.stderr.splitlines() if ": wrote " in line]
    assert sources == [
        "specs/catalogue.json",
        "specs/billing/v2/billing.yaml",
        "specs/orders/orders.yaml",
    ]
    assert completed.stderr.splitlines()[-1].startswith("3 spec(s): 3 written, 0 unchanged")
    assert "mkdocs" not in completed.stderr and "models" not in completed.stderr


def test_globs_mirror_the_tree_below_their_fixed_part(tree: Path) -> None:
    completed = run("convert", "specs/**/*.yaml", "-o", "out", cwd=tree)
    assert completed.returncode == 0, completed.stderr
    written = sorted(p.relative_to(tree / "out").as_posix() for p in (tree / "out").rglob("*.json"))
    assert written == [
        "billing/v2/billing.postman_collection.json",
        "orders/orders.postman_collection.json",
    ]
    assert glob_base("specs/**/*.yaml") == Path("specs") and glob_base("*.yaml") == Path(".")


def test_without_output_collections_go_beside_their_specs(tree: Path) -> None:
    assert run("convert", "specs", cwd=tree).returncode == 0
    assert (tree / "specs" / "orders" / "orders.postman_collection.json").exists()
    assert (tree / "specs" / "billing" / "v2" / "billing.postman_collection.json").exists()


def test_second_run_rewrites_nothing(tree: Path) -> None:
    assert run("convert", "specs", "-o", "out", cwd=tree).returncode == 0
    outputs = list((tree / "out").rglob("*.json"))
    for path in outputs:
        os.utime(path, (1_000_000, 1_000_000))
    completed = run("convert", "specs", "-o", "out", cwd=tree)
    assert completed.returncode == 0
    assert "3 spec(s): 0 written, 3 unchanged" in completed.stderr
    assert all(path.stat().st_mtime == 1_000_000 for path in outputs)


def test_one_broken_spec_fails_the_run_but_not_the_others(tree: Path) -> None:
    (tree / "specs" / "broken.yaml").write_text("openapi: 3.0.3\ninfo: [\n", encoding="utf-8")
    completed = run("convert", "specs", "-o", "out", "--jobs", "2", cwd=tree)
    assert completed.returncode == 1
    assert any(
        line.startswith("specs/broken.yaml:") and ": error [" in line
        for line in completed.stderr.splitlines()
    )
    assert "specs/broken.yaml: FAILED" in completed.stderr
    assert len(list((tree / "out").rglob("*.json"))) == 3
    assert "1 failed" in completed.stderr.splitlines()[-1]


def test_check_reports_missing_and_stale_and_writes_nothing(tree: Path) -> None:
    completed = run("convert", "specs", "-o", "out", "--check", cwd=tree)
    assert completed.returncode == 1
    assert completed.stderr.count(" is missing") == 3
    assert not (tree / "out").exists()
    assert run("convert", "specs", "-o", "out", cwd=tree).returncode == 0
    completed = run("convert", "specs", "-o", "out", "--check", cwd=tree)
    assert completed.returncode == 0, completed.stderr
    assert "3 up to date, 0 stale, 0 missing" in completed.stderr
    spec = tree / "specs" / "orders" / "orders.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("title: ", "title: Changed ", 1), encoding="utf-8"
    )
    target = tree / "out" / "orders" / "orders.postman_collection.json"
    before = target.read_bytes()
    completed = run("convert", "specs", "-o", "out", "--check", cwd=tree)
    assert completed.returncode == 1
    assert (
        f"specs/orders/orders.yaml: {Path('out/orders/orders.postman_collection.json')} is stale"
        in completed.stderr
    )
    assert target.read_bytes() == before


def test_json_report_has_every_file_in_order_and_a_summary(tree: Path) -> None:
    completed = run("convert", "specs", "-o", "out", "--format", "json", "--jobs", "2", cwd=tree)
    assert completed.returncode == 0
    report = json.loads(completed.stderr)
    assert [f["source"] for f in report["files"]] == [
        "specs/catalogue.json",
        "specs/billing/v2/billing.yaml",
        "specs/orders/orders.yaml",
    ]
    assert all(f["outcome"] == "written" and f["ok"] for f in report["files"])
    assert report["summary"]["specs"] == 3 and report["summary"]["written"] == 3


def test_same_output_name_from_two_specs_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    shutil.copy(OAS_31, tmp_path / "api.json")
    completed = run("convert", "api.yaml", "api.json", "-o", "out", cwd=tmp_path)
    assert completed.returncode == 2
    assert "several inputs would write the same output file" in completed.stderr
    completed = run(
        "convert",
        "api.yaml",
        "api.json",
        "-o",
        "out",
        "--naming",
        "{name}.postman_collection.json",
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "api.yaml.postman_collection.json").exists()
    assert (tmp_path / "out" / "api.json.postman_collection.json").exists()


def test_argument_that_names_nothing_is_reported(tmp_path: Path) -> None:
    completed = run("convert", "nothing/*.yaml", "-o", "out", cwd=tmp_path)
    assert "nothing/*.yaml: no OpenAPI or Swagger documents found" in completed.stderr
    assert completed.returncode == 0


def test_settings_file_supplies_specs_output_and_options(tree: Path) -> None:
    (tree / ".kpn-collections.yaml").write_text(
        "specs: [specs]\noutput: collections\nfolders: flat\n"
        "overrides:\n  - files: 'specs/billing/**'\n    folders: paths\n",
        encoding="utf-8",
    )
    (tree / ".git").mkdir()
    completed = run("convert", cwd=tree)
    assert completed.returncode == 0, completed.stderr
    orders = json.loads(
        (tree / "collections/orders/orders.postman_collection.json").read_text(encoding="utf-8")
    )
    billing = json.loads(
        (tree / "collections/billing/v2/billing.postman_collection.json").read_text(
            encoding="utf-8"
        )
    )
    assert not any("item" in item for item in orders["item"])  # flat
    assert any("item" in item for item in billing["item"])  # the override's folders: paths
    # a spec named on its own lands at its place in the configured tree; the command line wins over
    # the file
    completed = run("convert", "specs/orders/orders.yaml", "--folders", "tags", cwd=tree)
    assert completed.returncode == 0
    assert "wrote collections/orders/orders.postman_collection.json" in completed.stderr
    orders = json.loads(
        (tree / "collections/orders/orders.postman_collection.json").read_text(encoding="utf-8")
    )
    assert any("item" in item for item in orders["item"])


def test_settings_in_pyproject_toml(tree: Path) -> None:
    (tree / "pyproject.toml").write_text(
        '[tool.kpn-collections]\nspecs = ["specs"]\noutput = "pm"\n', encoding="utf-8"
    )
    (tree / ".git").mkdir()
    assert run("convert", cwd=tree).returncode == 0
    assert (tree / "pm" / "catalogue.postman_collection.json").exists()
    config = find_config(tree / "specs" / "orders")
    assert config.file == tree / "pyproject.toml" and config.root == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("folderz: flat\n", "unknown key 'folderz'"),
        ("folders: sideways\n", "folders must be one of tags, paths, flat"),
        (
            "overrides:\n  - files: '*.yaml'\n    colour: red\n",
            "overrides[0]: unknown key 'colour'",
        ),
        ("strict: yes please\n", "strict must be true or false"),
    ],
)
def test_bad_settings_are_usage_errors_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / ".kpn-collections.yaml").write_text(text, encoding="utf-8")
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    completed = run("convert", "api.yaml", cwd=tmp_path)
    assert completed.returncode == 2
    assert ".kpn-collections.yaml" in completed.stderr and message in completed.stderr
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(tmp_path / ".kpn-collections.yaml")


def test_unknown_key_in_pyproject_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.kpn-collections]\noutptu = 'x'\n", encoding="utf-8"
    )
    completed = run("convert", str(FEATURES_30), "-o", "out", cwd=tmp_path)
    assert completed.returncode == 2
    assert "pyproject.toml [tool.kpn-collections]: unknown key 'outptu'" in completed.stderr


def test_glob_matching() -> None:
    assert glob_matches("specs/**", "specs/a/b.yaml")
    assert glob_matches("**/*.yaml", "b.yaml") and glob_matches("**/*.yaml", "a/b.yaml")
    assert not glob_matches("specs/*.yaml", "specs/a/b.yaml")


def test_cache_skips_unchanged_work_and_notices_changed_references(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "refs" / "multi-file-oas30", tmp_path / "api")
    cache = tmp_path / "cache"
    args = ("convert", "api/spec.yaml", "-o", "out", "--cache-dir", str(cache), "--format", "json")
    first = json.loads(run(*args, cwd=tmp_path).stderr)["files"][0]
    assert (first["outcome"], first["cached"]) == ("written", False)
    second = json.loads(run(*args, cwd=tmp_path).stderr)["files"][0]
    assert (second["outcome"], second["cached"]) == ("unchanged", True)
    money = tmp_path / "api" / "models" / "money.yaml"
    money.write_text(money.read_text(encoding="utf-8").replace("9.95", "12.5"), encoding="utf-8")
    third = json.loads(run(*args, cwd=tmp_path).stderr)["files"][0]
    assert (third["outcome"], third["cached"]) == ("written", False)
    assert "12.5" in (tmp_path / "out" / "spec.postman_collection.json").read_text(encoding="utf-8")
    shutil.rmtree(cache)  # safe to delete
    fourth = json.loads(run(*args, cwd=tmp_path).stderr)["files"][0]
    assert (fourth["outcome"], fourth["cached"]) == ("unchanged", False)
    no_cache = json.loads(run(*args, "--no-cache", cwd=tmp_path).stderr)["files"][0]
    assert no_cache["cached"] is False


def test_whole_corpus_in_parallel_then_nothing_rewritten(tmp_path: Path) -> None:
    specs = require_corpus()
    completed = run(
        "convert",
        str(CORPUS),
        "-o",
        str(tmp_path / "out"),
        "--jobs",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[-1].startswith(
        f"{len(specs)} spec(s): {len(specs)} written, 0 unchanged"
    )
    outputs = sorted((tmp_path / "out").glob("*.postman_collection.json"))
    assert len(outputs) == len(specs)
    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    completed = run(
        "convert",
        str(CORPUS),
        "-o",
        str(tmp_path / "out"),
        "--jobs",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert completed.returncode == 0
    assert completed.stderr.splitlines()[-1].startswith(
        f"{len(specs)} spec(s): 0 written, {len(specs)} unchanged"
    )
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps


def test_progress_bar_on_a_terminal_only(tree: Path) -> None:
    import pty
    import subprocess

    from ..acceptance.test_cli import console_script

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*console_script(), "convert", "specs", "-o", "out", "--jobs", "1"],
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait() == 0
    os.close(leader)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "] 3/3" in shown and "\r" in shown
    plain = run("convert", "specs", "-o", "out2", cwd=tree)  # not a terminal: plain lines only
    assert "\r" not in plain.stderr and "] 3/3" not in plain.stderr


def test_cache_key_covers_the_tool_itself(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A changed converter or packaged template never serves a result of the old one (same version
    or not)."""
    from kpn_collections.batch import cache as batch
    from kpn_collections.batch.jobs import Job
    from kpn_collections.settings import Settings

    job = Job(
        0,
        FIXTURES / "oas30" / "features" / "input.yaml",
        tmp_path / "out.json",
        Settings(),
        False,
        tmp_path / "cache",
    )
    cache = batch.Cache(tmp_path / "cache")
    before = cache.key(job)
    assert before == cache.key(job)
    monkeypatch.setattr(batch, "_tool_hash", lambda: "another build")
    assert cache.key(job) != before


def test_run_jobs_over_two_workers_runs_every_job_once_in_job_order(tmp_path: Path) -> None:
    from kpn_collections.batch.jobs import Job
    from kpn_collections.batch.scheduler import run_jobs
    from kpn_collections.settings import Settings

    source = (FIXTURES / "oas30" / "features" / "input.yaml").read_text(encoding="utf-8")
    jobs = []
    for index in range(7):  # different sizes: every worker takes the biggest left
        spec = tmp_path / f"spec{index}.yaml"
        spec.write_text(source + "# padding\n" * (index * 50), encoding="utf-8")
        jobs.append(Job(index, spec, tmp_path / "out" / f"spec{index}.json", Settings()))
    done: list[int] = []
    results = list(run_jobs(jobs, 2, lambda: done.append(1)))
    assert [r.index for r in results] == list(range(7))
    assert all(r.outcome == "written" for r in results), [r.bug for r in results]
    assert len(done) == 7
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"spec{i}.json" for i in range(7)
    ]


def _job_killing_its_worker(job: Any) -> Any:
    """A stand-in conversion that ends its worker process on spec "a", and succeeds anywhere else
    (slowly in the main process, so that the next job is submitted after the worker has died)."""
    import multiprocessing

    from kpn_collections.batch.jobs import JobResult

    if multiprocessing.parent_process() is None:
        time.sleep(0.2)
    elif job.spec.stem == "a":
        os._exit(9)
    return JobResult(job.index, str(job.spec), None, "written", True)


@pytest.mark.usefixtures("fast_paths_on")  # the workers are the scheduler fast path's
def test_a_worker_that_dies_is_reported_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpn_collections.batch import scheduler as batch
    from kpn_collections.batch.jobs import Job
    from kpn_collections.batch.scheduler import run_jobs
    from kpn_collections.settings import Settings

    jobs = []
    for index, name in enumerate("abcdef"):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text("#" * (600 - index * 100), encoding="utf-8")  # "a" first, to the worker
        jobs.append(Job(index, spec, None, Settings(), cache_dir=tmp_path))
    monkeypatch.setattr(batch, "run_job", _job_killing_its_worker)
    results = list(run_jobs(jobs, 2, lambda: None))
    assert [r.spec for r in results] == [str(job.spec) for job in jobs]
    assert results[0].outcome == "bug" and "terminated abruptly" in (results[0].bug or "")
    assert [r.outcome for r in results[1:]] == ["written"] * 5  # the others, converted here


def test_workers_share_prepared_templates_and_still_report_a_template_that_does_not_compile(
    tmp_path: Path,
) -> None:
    """run_jobs compiles the templates before forking (pipeline.prepare); a user template with a
    syntax error must not stop it there, but fail each conversion with a located template error."""
    from kpn_collections.batch.jobs import Job
    from kpn_collections.batch.scheduler import run_jobs
    from kpn_collections.settings import Settings

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "request.test.js.jinja").write_text("{% if %}\n", encoding="utf-8")
    source = (FIXTURES / "oas30" / "features" / "input.yaml").read_text(encoding="utf-8")
    jobs = []
    for index in range(3):
        spec = tmp_path / f"spec{index}.yaml"
        spec.write_text(source, encoding="utf-8")
        jobs.append(
            Job(
                index,
                spec,
                tmp_path / "out" / f"spec{index}.json",
                Settings(templates_dir=templates),
            )
        )
    results = list(run_jobs(jobs, 2, lambda: None))
    assert [r.outcome for r in results] == ["failed"] * 3, [r.bug for r in results]
    for result in results:
        assert [d.code for d in result.diagnostics if d.severity.value == "error"] == [
            "template-error"
        ]
    assert not (tmp_path / "out").exists()


def test_the_settings_file_reader_does_not_load_the_job_runner() -> None:
    """config.py checks `naming` and `specs` globs with naming.py: settings do not depend on the job
    runner."""
    import subprocess
    import sys

    code = (
        "import sys, kpn_collections.config; "
        "print(any(m.startswith('kpn_collections.batch.') for m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "False"


def test_one_map_from_settings_keys_to_settings_fields() -> None:
    """Every `Settings` field has one key in settings.SETTING_KEYS; the settings file knows the rest
    of them."""
    from dataclasses import fields

    from kpn_collections import config
    from kpn_collections.settings import SETTING_KEYS, Settings

    assert sorted(name for name, _ in SETTING_KEYS.values()) == sorted(
        f.name for f in fields(Settings)
    )
    file_keys = {key for key, (_, kind) in SETTING_KEYS.items() if kind is not None}
    assert file_keys == set(config._PER_SPEC)
    assert not file_keys & config._COMMAND_LINE_ONLY
    assert set(SETTING_KEYS) - file_keys <= config._COMMAND_LINE_ONLY


def test_settings_modes_are_literal_types_with_their_allowed_values() -> None:
    """mypy checks a mode against its allowed values; the CLI choices and the settings file use the
    same ones."""
    from typing import get_args, get_type_hints

    from kpn_collections.settings import AUTH_MODES, FOLDER_MODES, TEST_MODES, Settings

    hints = get_type_hints(Settings)
    assert get_args(hints["folders"]) == FOLDER_MODES == ("tags", "paths", "flat")
    assert (
        get_args(hints["auth_mode"])
        == AUTH_MODES
        == ("auto", "client-credentials", "token-operation", "spec")
    )
    assert get_args(hints["tests"]) == TEST_MODES == ("none", "smoke", "contract")
