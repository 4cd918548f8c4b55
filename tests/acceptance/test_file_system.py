"""The file system as hostile input: nothing is read without bounds, nothing is written outside the
output directory, discovery never loops, and every write failure is a located error (issue 17).

Tests run as root in CI containers, so "read-only" and "disk full" are simulated: a path below a
regular file, /proc, /dev/full, or a monkeypatched os.replace / os.write; a chmod'ed directory would
still be writable for root."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kpn_collections import cli
from kpn_collections.batch.discover import Input, NamingError, discover, output_path
from kpn_collections.naming import naming_problem

from ..conftest import FIXTURES, REPO_ROOT

FEATURES_30 = FIXTURES / "oas30" / "features" / "input.yaml"
# a reader that does not stop fails here instead of taking the machine's memory
MEMORY_LIMIT = 3 * 1024**3
SPARSE_SIZE = 2 * 1024**3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def kpn(
    *args: str, cwd: Path = REPO_ROOT, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """The converter in a child process with a memory ceiling; the timeout turns a hang into a
    failure."""
    return subprocess.run(
        [sys.executable, "-m", "kpn_collections", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )


def spec_text(extra: str = "") -> str:
    return (
        'openapi: 3.0.3\ninfo: {title: T, version: "1"}\nservers: [{url: "https://x.test"}]\npaths:'
        " {}\n" + extra
    )


def sparse(path: Path, size: int = SPARSE_SIZE, head: str = "") -> Path:
    with path.open("wb") as handle:
        handle.write(head.encode())
        handle.truncate(size)  # no disk space, no time
    return path


def hostile(kind: str, path: Path) -> Path:
    """`path` made into a symbolic link to /dev/zero, a FIFO, or a 2 GB sparse file."""
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        sparse(path, head=spec_text())
    return path


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*.tmp")] if directory.exists() else []


# --- --naming
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "naming",
    [
        "..{stem:/>2}.json",
        "{stem:/<3}.json",
        "{name!r}.json",
        "{stem.upper}",
        "{0}.json",
        "{stem[0]}.json",
    ],
)
def test_naming_with_format_specs_or_other_fields_is_a_usage_error(
    naming: str, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(spec_text(), encoding="utf-8")
    completed = kpn(
        "convert", "a.yaml", "-o", "out", "--no-cache", "--naming", naming, cwd=tmp_path
    )
    assert completed.returncode == 2, completed.stderr
    assert "--naming" in completed.stderr and "plain fields {stem} and {name}" in completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]


def test_naming_from_the_settings_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / ".kpn-collections.yaml").write_text(
        'naming: "..{stem:/>2}.json"\n', encoding="utf-8"
    )
    (tmp_path / "a.yaml").write_text(spec_text(), encoding="utf-8")
    completed = kpn("convert", "a.yaml", "-o", "out", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert ".kpn-collections.yaml: `naming` may use only the plain fields" in completed.stderr
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "out").exists()


def test_a_name_that_is_dot_dot_for_one_spec_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "...yaml").write_text(spec_text(), encoding="utf-8")  # its stem is `..`
    completed = kpn(
        "convert", "...yaml", "-o", "out", "--no-cache", "--naming", "{stem}", cwd=tmp_path
    )
    assert completed.returncode == 2, completed.stderr
    assert "--naming" in completed.stderr and "gives '..' for ...yaml" in completed.stderr


_PIECES = st.sampled_from(
    [
        "{stem}",
        "{name}",
        "{stem:/>2}",
        "{stem:/<3}",
        "{name:.^5}",
        "{stem!s}",
        "{{",
        "}}",
        "{",
        "}",
        ".",
        "..",
        "/",
        "\\",
        ".json",
        "x",
        ":",
        "{stem:.>4}",
        "{}",
        "{0}",
    ]
)
_FILE_NAMES = st.text(st.sampled_from("a.-_/\\ {}:\n"), min_size=1, max_size=8).filter(
    lambda n: "/" not in n and n not in (".", "..")
)


@settings(max_examples=200, deadline=timedelta(seconds=5), derandomize=True, database=None)
@given(naming=st.lists(_PIECES, min_size=1, max_size=6).map("".join), file_name=_FILE_NAMES)
def test_no_formatted_name_leaves_the_output_directory(naming: str, file_name: str) -> None:
    """Property: whatever the pattern and the spec's file name, an accepted pattern gives a file
    directly in the output directory (or, beside the spec, in the spec's directory), or a
    NamingError."""
    output = Path("/work/out")
    spec = Input(Path("/work/specs/sub") / file_name, Path("/work/specs"))
    if naming_problem(naming) is not None:
        with pytest.raises(NamingError):
            output_path(spec, output, naming)
        return
    for directory, expected_parent in ((output, output / "sub"), (None, spec.path.parent)):
        try:
            path = output_path(spec, directory, naming)
        except NamingError:
            continue
        assert path.parent == expected_parent and path.name not in ("", ".", "..")
        assert Path(os.path.normpath(path)).parent == expected_parent, (naming, file_name, path)


# --- no writes through symbolic links in the output tree
# -------------------------------------------------


@pytest.fixture
def linked_tree(tmp_path: Path) -> Path:
    """specs/sub/api.yaml converted into out/, where out/sub is a symbolic link to elsewhere/."""
    (tmp_path / "specs" / "sub").mkdir(parents=True)
    shutil.copy(FEATURES_30, tmp_path / "specs" / "sub" / "api.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    return tmp_path


def test_a_symlinked_directory_in_the_output_tree_is_not_written_through(linked_tree: Path) -> None:
    completed = kpn("convert", "specs", "-o", "out", "--no-cache", cwd=linked_tree)
    assert completed.returncode == 1, completed.stderr
    assert (
        "out/sub/api.postman_collection.json:" in completed.stderr
        and "error [output-failed]" in completed.stderr
        and "is a symbolic link inside the output directory out" in completed.stderr
    ), completed.stderr
    assert list((linked_tree / "elsewhere").iterdir()) == []


def test_check_does_not_compare_through_a_symlinked_directory(linked_tree: Path) -> None:
    # the right content
    kpn("convert", "specs/sub/api.yaml", "-o", "elsewhere", "--no-cache", cwd=linked_tree)
    completed = kpn("convert", "specs", "-o", "out", "--no-cache", "--check", cwd=linked_tree)
    assert completed.returncode == 1, completed.stderr
    assert "is a symbolic link inside the output directory" in completed.stderr


def test_a_symlinked_output_file_is_replaced_and_its_target_left_alone(tmp_path: Path) -> None:
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "victim.json").write_text("keep", encoding="utf-8")
    (tmp_path / "out" / "api.postman_collection.json").symlink_to(tmp_path / "victim.json")
    completed = kpn("convert", "api.yaml", "-o", "out", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    written = tmp_path / "out" / "api.postman_collection.json"
    assert not written.is_symlink() and json.loads(written.read_text(encoding="utf-8"))["info"]
    assert (tmp_path / "victim.json").read_text(encoding="utf-8") == "keep"


# --- bounded reads
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", ["--no-cache", "--cache"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_a_spec_that_is_not_a_readable_file_is_a_located_error(
    kind: str, cache: str, tmp_path: Path
) -> None:
    spec = hostile(kind, tmp_path / "api.yaml")
    completed = kpn(
        "convert", str(spec), "-o", str(tmp_path / "out"), cache, "--cache-dir", str(tmp_path / "c")
    )
    assert completed.returncode == 1, completed.stderr
    expected = (
        "error [too-large]"
        if kind == "sparse"
        else "error [read-failed]: cannot read the file: not a regular"
    )
    assert f"{spec}: {expected}" in completed.stderr, completed.stderr


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_a_referenced_file_that_is_not_a_readable_file_is_a_located_error(
    kind: str, tmp_path: Path
) -> None:
    hostile(kind, tmp_path / "models.yaml")
    spec = tmp_path / "api.yaml"
    spec.write_text(
        spec_text("components:\n  schemas:\n    Pet: {$ref: 'models.yaml#/Pet'}\n"),
        encoding="utf-8",
    )
    # the root is widened: a link to /dev/zero would otherwise be refused before anything is opened
    completed = kpn(
        "convert", str(spec), "-o", str(tmp_path / "out"), "--no-cache", "--ref-root", "/"
    )
    assert completed.returncode == 1, completed.stderr
    expected = "[ref-file-too-large]" if kind == "sparse" else "[ref-file-unreadable]"
    assert expected in completed.stderr and "models.yaml" in completed.stderr, completed.stderr


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_check_against_an_output_that_is_not_a_readable_file_ends(
    kind: str, tmp_path: Path
) -> None:
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    (tmp_path / "out").mkdir()
    hostile(kind, tmp_path / "out" / "api.postman_collection.json")
    completed = kpn("convert", "api.yaml", "-o", "out", "--no-cache", "--check", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    if kind == "sparse":
        assert "api.yaml: out/api.postman_collection.json is stale" in completed.stderr
    else:
        assert (
            "out/api.postman_collection.json: error [output-failed]: cannot compare the collection"
            in completed.stderr
            and "not a regular file" in completed.stderr
        ), completed.stderr


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_writing_over_an_output_that_is_not_a_readable_file_ends(kind: str, tmp_path: Path) -> None:
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    (tmp_path / "out").mkdir()
    target = hostile(kind, tmp_path / "out" / "api.postman_collection.json")
    completed = kpn("convert", "api.yaml", "-o", "out", "--no-cache", cwd=tmp_path)
    if kind == "fifo":  # never replaced: it may be a pipe someone reads from
        assert completed.returncode == 1, completed.stderr
        assert (
            "error [output-failed]" in completed.stderr
            and "it is a FIFO, not a file" in completed.stderr
        )
        assert target.is_fifo()
    else:  # a link is replaced (never its target), a too-big file rewritten
        assert completed.returncode == 0, completed.stderr
        assert not target.is_symlink() and target.stat().st_size < 1024**2
    assert leftovers(tmp_path / "out") == []


def test_discovery_skips_fifos_and_devices_without_opening_them(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(FEATURES_30, specs / "api.yaml")
    hostile("fifo", specs / "pipe.yaml")
    hostile("dev-zero", specs / "zero.yaml")
    (specs / "null.json").symlink_to("/dev/null")
    for argument in ("", "/*.yaml", "/**/*"):
        found, _ = discover([f"{specs}{argument}"])
        assert [i.path.name for i in found] == ["api.yaml"], argument


# --- discovery
# ------------------------------------------------------------------------------------------


@pytest.fixture
def looping_tree(tmp_path: Path) -> Path:
    specs = tmp_path / "specs"
    (specs / "v1").mkdir(parents=True)
    (specs / "node_modules" / "pkg").mkdir(parents=True)
    (specs / ".hidden").mkdir()
    for directory in (specs, specs / "v1", specs / "node_modules" / "pkg", specs / ".hidden"):
        shutil.copy(FEATURES_30, directory / "api.yaml")
    (specs / "v1" / "up").symlink_to("..")  # a cycle
    (specs / "v1" / "again").symlink_to(specs / "v1")  # another, absolute
    (specs / "current").symlink_to("v1")  # a second way to the same spec
    (specs / "same.yaml").symlink_to("api.yaml")  # a second name for a spec
    return tmp_path


@pytest.mark.parametrize("argument", ["specs", "specs/**/*.yaml", "specs/**/*", "specs/**"])
def test_walks_and_globs_never_loop_and_find_each_spec_once(
    argument: str, looping_tree: Path
) -> None:
    cwd = Path.cwd()
    os.chdir(looping_tree)
    try:
        found, _ = discover([argument])
    finally:
        os.chdir(cwd)
    assert [i.path.as_posix() for i in found] == ["specs/api.yaml", "specs/v1/api.yaml"]


def test_the_same_file_named_twice_is_one_input(looping_tree: Path) -> None:
    specs = looping_tree / "specs"
    found, _ = discover(
        [str(specs / "api.yaml"), str(specs / "same.yaml"), str(specs / "v1" / ".." / "api.yaml")]
    )
    assert [i.path for i in found] == [specs / "api.yaml"]


# --- settings: specs and templates
# --------------------------------------------------------------------


def test_settings_specs_naming_a_single_file(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(FEATURES_30, tmp_path / "specs" / "api.yaml")
    (tmp_path / ".kpn-collections.yaml").write_text(
        "specs: [specs/api.yaml]\noutput: out\n", encoding="utf-8"
    )
    completed = kpn("convert", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "api.postman_collection.json").is_file()


def test_settings_specs_naming_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".kpn-collections.yaml").write_text("specs: [nowhere]\n", encoding="utf-8")
    completed = kpn("convert", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert (
        ".kpn-collections.yaml: `specs` names" in completed.stderr
        and "nowhere, which does not exist" in completed.stderr
    )


@pytest.mark.parametrize("key", ["templates", "ref-root", "ref-mirror"])
def test_settings_naming_a_missing_directory_are_usage_errors(key: str, tmp_path: Path) -> None:
    (tmp_path / ".kpn-collections.yaml").write_text(f"{key}: missing/\n", encoding="utf-8")
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    completed = kpn("convert", "api.yaml", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert (
        f".kpn-collections.yaml: {key} names" in completed.stderr
        and "which is not a directory" in completed.stderr
    )


def test_templates_option_naming_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    completed = kpn(
        "convert", str(FEATURES_30), "-o", str(tmp_path), "--templates", str(tmp_path / "missing")
    )
    assert completed.returncode == 2 and "--templates" in completed.stderr


# --- unwritable output
# ----------------------------------------------------------------------------------


def test_output_directory_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for output in ("file", "file/sub"):
        completed = kpn("convert", str(FEATURES_30), "-o", output, "--no-cache", cwd=tmp_path)
        assert completed.returncode == 2, completed.stderr
        assert f"-o: the output directory {output} cannot be made" in completed.stderr


@pytest.mark.parametrize("command", ["convert", "bundle", "inject"])
def test_disk_full_is_a_located_failure_and_leaves_no_temporary_file(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    output = tmp_path / "out"
    arguments = [
        command,
        str(FEATURES_30),
        "-o",
        str(output if command == "convert" else output / "api.yaml"),
    ]
    result = CliRunner().invoke(
        cli.main, [*arguments, *(["--no-cache", "-j", "1"] if command == "convert" else [])]
    )
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "error [output-failed]" in result.output
    assert str(output) in result.output
    assert list(output.iterdir()) == []


@pytest.mark.parametrize("command", ["convert", "bundle", "inject"])
def test_unwritable_output_paths_are_failures_not_bugs(command: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    targets = ["/proc/kpn-collections"] + (
        [] if command == "convert" else ["file/out.yaml", str(tmp_path)]
    )
    for target in targets:
        completed = kpn(
            command,
            str(FEATURES_30),
            "-o",
            target,
            "--no-cache" if command == "convert" else "-v",
            cwd=tmp_path,
        )
        assert completed.returncode in (1, 2), (target, completed.stderr)
        assert "internal error" not in completed.stderr and target in completed.stderr, (
            completed.stderr
        )


@pytest.mark.parametrize("command", ["convert", "bundle", "inject"])
def test_stdout_on_a_full_disk_is_a_failure(command: str) -> None:
    with open("/dev/full", "w") as full:
        completed = kpn(
            command,
            str(FEATURES_30),
            "-o",
            "-",
            *(["--no-cache"] if command == "convert" else []),
            stdout=full,
        )
    assert completed.returncode == 1, completed.stderr
    assert "cannot write the result: No space left on device" in completed.stderr


# --- names that look like options or hold control characters
# ----------------------------------------------


def test_file_names_after_double_dash_are_files(tmp_path: Path) -> None:
    for name in ("-o.yaml", "--help.yaml"):
        shutil.copy(FEATURES_30, tmp_path / name)
    completed = kpn("convert", "--no-cache", "--", "-o.yaml", "--help.yaml", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "-o.postman_collection.json").is_file()
    assert (tmp_path / "--help.postman_collection.json").is_file()


def test_pre_commit_hooks_pass_file_names_after_double_dash() -> None:
    import yaml

    for hook in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")):
        assert hook.get("args") == ["--"], hook["id"]


def test_control_characters_in_names_are_escaped_in_every_line(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(FEATURES_30, specs / "good\x1b[2J.yaml")
    (specs / "bad\nname.yaml").write_text(spec_text("x: [\n"), encoding="utf-8")
    completed = kpn("convert", "specs", "-o", "out", "--no-cache", "-j", "1", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert "\x1b" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert any(
        line.startswith("specs/bad\\nname.yaml:") and "error [yaml-syntax]" in line
        for line in lines
    )
    assert "specs/bad\\nname.yaml: FAILED" in completed.stderr
    assert (
        "specs/good\\x1b[2J.yaml: wrote out/good\\x1b[2J.postman_collection.json"
        in completed.stderr
    )
    assert all(not line.startswith("name.yaml") for line in lines)


# --- further files read from outside: templates, the settings file, the mirror's prefixes
# ---------------------


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_a_template_that_is_not_a_readable_file_is_a_located_error(
    kind: str, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    template = hostile(kind, templates / "request.description.md.jinja")
    completed = kpn(
        "convert",
        str(FEATURES_30),
        "-o",
        str(tmp_path / "out"),
        "--no-cache",
        "--templates",
        str(templates),
    )
    assert completed.returncode == 1, completed.stderr
    assert f"{template}: error [template-error]" in completed.stderr
    assert (
        "cannot be read" in completed.stderr
        or "leads outside the templates folder" in completed.stderr
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_a_settings_file_that_is_not_a_readable_file_is_a_usage_error(
    kind: str, tmp_path: Path
) -> None:
    settings_file = hostile(kind, tmp_path / "settings.yaml")
    completed = kpn(
        "convert", str(FEATURES_30), "-o", str(tmp_path / "out"), "--config", str(settings_file)
    )
    assert completed.returncode == 2, completed.stderr
    assert f"{settings_file}: cannot read it" in completed.stderr


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "sparse"])
def test_a_mirror_prefixes_file_that_is_not_a_readable_file_is_a_usage_error(
    kind: str, tmp_path: Path
) -> None:
    hostile(kind, tmp_path / "prefixes.yaml")
    completed = kpn(
        "convert", str(FEATURES_30), "-o", str(tmp_path / "out"), "--ref-mirror", str(tmp_path)
    )
    assert completed.returncode == 2, completed.stderr
    assert "prefixes.yaml: cannot read it" in completed.stderr
