"""What a pull request that controls the settings file or a templates folder can make the tool do:
nothing outside its repository, and no code of its own run (README: "Threat model")."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpn_collections.batch.discover import _parts_match
from kpn_collections.batch.jobs import stored_credentials
from kpn_collections.config import ConfigError, glob_matches, load_config

from ..acceptance.test_cli import run
from ..conftest import FIXTURES

FEATURES_30 = FIXTURES / "oas30" / "features" / "input.yaml"


def _repository(tmp_path: Path, settings: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()
    shutil.copy(FEATURES_30, repo / "specs" / "api.yaml")
    (repo / ".kpn-collections.yaml").write_text(settings, encoding="utf-8")
    return repo


@pytest.mark.parametrize(
    "setting",
    [
        "ref-root: ..",
        "ref-mirror: ../mirror",
        "templates: ../templates",
        "output: ../out",
        "cache-dir: /tmp/x",
        "specs: [../elsewhere]",
        "specs: ['/etc/**/*.yaml']",
        "overrides: [{files: '**', ref-root: /}]",
    ],
)
def test_a_settings_file_names_no_path_outside_its_repository(tmp_path: Path, setting: str) -> None:
    for folder in ("mirror", "templates", "elsewhere"):
        (tmp_path / folder).mkdir()
    repo = _repository(tmp_path, setting + "\n")
    completed = run("convert", "specs/api.yaml", cwd=repo)
    assert completed.returncode == 2, completed.stderr
    assert (
        "leads outside the repository" in completed.stderr and "Traceback" not in completed.stderr
    )
    assert not (tmp_path / "out").exists()


def test_a_symbolic_link_in_the_repository_does_not_widen_it(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    repo = _repository(tmp_path, "ref-root: everything\n")
    (repo / "everything").symlink_to(tmp_path)
    completed = run("convert", "specs/api.yaml", cwd=repo)
    assert completed.returncode == 2
    assert "ref-root leads outside the repository" in completed.stderr


def test_paths_inside_the_repository_still_work(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "specs: [specs]\noutput: collections\nref-root: .\n")
    (repo / "sub").mkdir()
    completed = run("convert", cwd=repo)
    assert completed.returncode == 0, completed.stderr
    assert (repo / "collections" / "api.postman_collection.json").is_file()


def test_the_command_line_may_name_a_path_outside_the_repository(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "specs: [specs]\n")
    completed = run("convert", "-o", str(tmp_path / "out"), cwd=repo)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "api.postman_collection.json").is_file()


@pytest.mark.parametrize(
    "payload",
    [
        "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ self._TemplateReference__context.environment.loader }}",
    ],
)
def test_a_template_from_a_pull_request_runs_no_code(tmp_path: Path, payload: str) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "request.description.md.jinja").write_text(payload + "\n", encoding="utf-8")
    completed = run(
        "convert",
        str(FEATURES_30),
        "-o",
        str(tmp_path / "out"),
        "--templates",
        str(templates),
        cwd=tmp_path,
    )
    assert completed.returncode == 1, completed.stderr
    assert "error [template-error]" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "MARKER").exists()
    assert not (tmp_path / "out").exists()


def test_a_template_that_links_outside_its_folder_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "private.txt"
    secret.write_text("the machine's own file\n", encoding="utf-8")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "request.description.md.jinja").symlink_to(secret)
    (templates / "collection.description.md.jinja").write_text(
        "{% include 'linked.jinja' %}\n", encoding="utf-8"
    )
    (templates / "linked.jinja").symlink_to(secret)
    completed = run("convert", str(FEATURES_30), "-o", "-", "--templates", str(templates))
    assert "the machine's own file" not in completed.stdout
    assert completed.returncode == 1 and "error [template-error]" in completed.stderr


def test_sandboxed_user_templates_render_what_the_packaged_ones_do(tmp_path: Path) -> None:
    """An empty templates folder puts every packaged template in the sandbox: the output is the
    same."""
    (tmp_path / "empty").mkdir()
    plain = run("convert", str(FEATURES_30), "-o", "-", "--no-cache")
    sandboxed = run(
        "convert", str(FEATURES_30), "-o", "-", "--no-cache", "--templates", str(tmp_path / "empty")
    )
    assert plain.returncode == sandboxed.returncode == 0
    assert json.loads(plain.stdout) == json.loads(sandboxed.stdout)


@pytest.mark.parametrize(
    "content",
    [
        "[" * 200_000 + "]" * 200_000,
        '{"info": {}, "variable": "x", "item": [{"name": "x", "event": "abc", "item": {"a": 1}}]}',
        (
            '{"variable": [1, null, {"key": "client_secret", "value": 7}], "event": [{"script":'
            ' "x"}], "item": [3]}'
        ),
        '{"item": [' + '{"item": [' * 450 + "]}" * 450 + "]}",
    ],
)
def test_check_reads_a_hand_edited_collection_of_any_shape(tmp_path: Path, content: str) -> None:
    """`--check` reads the collection on disk, which anyone can edit: any shape is stale, never a
    crash."""
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    (tmp_path / "api.postman_collection.json").write_text(content, encoding="utf-8")
    completed = run("convert", "api.yaml", "--check", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert "is stale" in completed.stderr and "internal error" not in completed.stderr


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "item",
                        "event",
                        "script",
                        "exec",
                        "variable",
                        "key",
                        "value",
                        "description",
                        "name",
                    ]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=40,
    )
)
@settings(max_examples=200, derandomize=True, deadline=None)
def test_credential_sweep_of_an_edited_collection_never_raises(value: object) -> None:
    assert isinstance(
        stored_credentials(
            json.dumps({"item": [value], "variable": [value], "event": [value]}), "c.json"
        ),
        tuple,
    )


def test_a_settings_specs_entry_cannot_leave_the_repository_after_its_wildcard(
    tmp_path: Path,
) -> None:
    # `specs/[x]` exists as a directory, so the entry is a path, not a glob: `..` then leaves the
    # repository
    (tmp_path / "outside").mkdir()
    shutil.copy(FEATURES_30, tmp_path / "outside" / "api.yaml")
    repo = _repository(tmp_path, "specs: ['specs/[x]/../../../outside/api.yaml']\n")
    (repo / "specs" / "[x]").mkdir()
    completed = run("convert", "--no-cache", cwd=repo)
    assert completed.returncode == 2, completed.stderr
    assert "leads outside the repository" in completed.stderr
    assert list((tmp_path / "outside").iterdir()) == [tmp_path / "outside" / "api.yaml"]
    repo_glob = _repository(tmp_path / "g", "specs: ['specs/*/../../../outside/*.yaml']\n")
    completed = run("convert", "--no-cache", cwd=repo_glob)
    assert completed.returncode == 2 and "leads outside the repository" in completed.stderr


@pytest.mark.parametrize(
    "settings_text",
    [
        "[tool]\nkpn-collections = 1\n",
        "tool = 1\n",
        "[[tool]]\nx = 1\n",
    ],
)
def test_a_pyproject_of_any_shape_is_a_usage_error(tmp_path: Path, settings_text: str) -> None:
    repo = _repository(tmp_path, "")
    (repo / ".kpn-collections.yaml").unlink()
    (repo / "pyproject.toml").write_text(settings_text, encoding="utf-8")
    completed = run("convert", "specs/api.yaml", "-o", "-", cwd=repo)
    assert completed.returncode == 2, completed.stderr
    assert "must be a table" in completed.stderr


@pytest.mark.parametrize("setting", ['output: "a\\0b"', 'specs: ["a\\0b"]', 'cache-dir: "\\0"'])
def test_a_nul_in_a_settings_path_is_a_usage_error(tmp_path: Path, setting: str) -> None:
    repo = _repository(tmp_path, setting + "\n")
    completed = run("convert", "specs/api.yaml", "-o", "-", cwd=repo)
    assert completed.returncode == 2, completed.stderr
    assert "NUL" in completed.stderr


def test_a_settings_value_built_from_aliases_is_reported_briefly(tmp_path: Path) -> None:
    # 1 KB of YAML whose value, written out, has 9**30 items: the message shows the start of it (it
    # hung)
    lines = [
        "overrides:",
        "  - files: x",
        '    base-url: &a0 ["lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for i in range(1, 30):
        lines += ["  - files: x", f"    base-url: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]"]
    repo = _repository(tmp_path, "\n".join([*lines, "folders: *a29"]) + "\n")
    with pytest.raises(ConfigError, match="folders must be one of") as raised:
        load_config(repo / ".kpn-collections.yaml")
    assert len(str(raised.value)) < 2000
    (repo / ".kpn-collections.yaml").write_text(
        "\n".join([*lines, "jobs: *a29"]) + "\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="jobs must be a whole number") as raised:
        load_config(repo / ".kpn-collections.yaml")
    assert len(str(raised.value)) < 2000


def test_globs_from_a_settings_file_match_in_linear_time(tmp_path: Path) -> None:
    assert not glob_matches("*a" * 40 + "x", "a" * 400)  # a regex backtracked for hours
    assert not glob_matches("**a" * 40 + "x", "a/" * 200)
    # exponential before
    assert not _parts_match(["**"] * 40 + ["x.yaml"], ["d"] * 30 + ["api.yaml"])
    assert _parts_match(["**"] * 40 + ["*.yaml"], ["d"] * 30 + ["api.yaml"])
    repo = _repository(tmp_path, f"specs: ['{'*' * 2000}']\n")
    with pytest.raises(ConfigError, match="longer than"):
        load_config(repo / ".kpn-collections.yaml")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text("ab/*?.", max_size=8), st.text("ab/.", max_size=10))
def test_glob_matching_agrees_with_its_regex_definition(pattern: str, path: str) -> None:
    regex = "".join(
        (
            "(?:.*/)?"
            if token == "**/"
            else (
                ".*"
                if token == "**"
                else "[^/]*"
                if token == "*"
                else "[^/]"
                if token == "?"
                else re.escape(token)
            )
        )
        for token in re.findall(r"\*\*/|\*\*|\*|\?|.", pattern, re.S)
    )
    assert glob_matches(pattern, path) == (re.fullmatch(regex, path) is not None)


def test_a_committed_cache_directory_cannot_carry_writes_out_of_the_repository(
    tmp_path: Path,
) -> None:
    repo = _repository(tmp_path, "cache-dir: .cache\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".cache").mkdir()
    # every first-two-hex-digits folder of the cache
    for prefix in (f"{i:02x}" for i in range(256)):
        (repo / ".cache" / prefix).symlink_to(elsewhere)
    for _ in range(2):
        completed = run("convert", "specs/api.yaml", "-o", str(tmp_path / "out"), cwd=repo)
        assert completed.returncode == 0, completed.stderr
    assert list(elsewhere.iterdir()) == []
    assert (tmp_path / "out" / "api.postman_collection.json").is_file()


def test_a_committed_link_to_a_spec_outside_the_repository_is_not_searched(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    shutil.copy(FEATURES_30, tmp_path / "outside" / "private.yaml")
    repo = _repository(tmp_path, "specs: [specs]\noutput: collections\n")
    (repo / "specs" / "evil.yaml").symlink_to(tmp_path / "outside" / "private.yaml")
    (repo / "versions").mkdir()
    shutil.copy(FEATURES_30, repo / "versions" / "v3.yaml")
    # inside: still a spec
    (repo / "specs" / "current.yaml").symlink_to(repo / "versions" / "v3.yaml")
    for arguments in ([], ["specs", "-o", "collections"], ["specs/*.yaml", "-o", "collections"]):
        shutil.rmtree(repo / "collections", ignore_errors=True)
        completed = run("convert", "--no-cache", *arguments, cwd=repo)
        assert completed.returncode == 0, completed.stderr
        assert sorted(p.name for p in (repo / "collections").iterdir()) == [
            "api.postman_collection.json",
            "current.postman_collection.json",
        ]


def test_the_cache_key_never_follows_a_template_link_out_of_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpn_collections.batch import cache as batch

    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "big.txt").write_text("x", encoding="utf-8")
    templates = tmp_path / "repo" / "templates"
    templates.mkdir(parents=True)
    (templates / "request.test.js.jinja").write_text("// mine\n", encoding="utf-8")
    read: list[Path] = []
    original = batch._read_regular
    monkeypatch.setattr(
        batch, "_read_regular", lambda path, *a: read.append(Path(path)) or original(path, *a)
    )
    assert batch._templates_hash(templates) is not None
    # committed as a link to /: the whole disk was read and hashed
    (templates / "root").symlink_to(outside)
    assert batch._templates_hash(templates) is None  # not cached, not followed
    (templates / "root").unlink()
    (templates / "x.jinja").symlink_to(outside / "deep" / "big.txt")
    assert batch._templates_hash(templates) is None
    assert all(path.parent == templates for path in read), read


def test_a_huge_prefixes_file_in_the_mirror_is_a_usage_error_at_once(tmp_path: Path) -> None:
    # 10 MB of prefixes took half a minute to load, once per spec and again per job
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "prefixes.yaml").write_text(
        "".join(f'"https://p{i}.example/": m{i}/\n' for i in range(40_000)), encoding="utf-8"
    )
    completed = run(
        "convert", str(FEATURES_30), "-o", "-", "--ref-mirror", str(mirror), cwd=tmp_path
    )
    assert completed.returncode == 2, completed.stderr
    assert "prefixes.yaml: cannot read it: larger than" in completed.stderr
    (mirror / "prefixes.yaml").write_text(
        "{" + ", ".join(f'"https://p{i}.example/": m{i}/' for i in range(10_001)) + "}\n",
        encoding="utf-8",
    )
    completed = run(
        "convert", str(FEATURES_30), "-o", "-", "--ref-mirror", str(mirror), cwd=tmp_path
    )
    assert completed.returncode == 2 and "more than 10000 prefixes" in completed.stderr, (
        completed.stderr
    )


def test_a_settings_file_with_thousands_of_overrides_is_a_usage_error(tmp_path: Path) -> None:
    # 10 MB of overrides took minutes to load and to match against every spec
    lines = "".join(f"  - {{files: 'specs/**/*x{i}*.yaml', folders: paths}}\n" for i in range(1001))
    repo = _repository(tmp_path, "overrides:\n" + lines)
    completed = run("convert", "--no-cache", "specs", "-o", "out", cwd=repo)
    assert completed.returncode == 2 and "more than 1000 globs" in completed.stderr, (
        completed.stderr
    )
    (repo / ".kpn-collections.yaml").write_text("overrides:\n" + lines * 40, encoding="utf-8")
    completed = run("convert", "--no-cache", "specs", "-o", "out", cwd=repo)
    assert completed.returncode == 2 and "larger than" in completed.stderr, completed.stderr
    (repo / ".kpn-collections.yaml").write_text(
        "overrides:\n" + "".join(lines.splitlines(keepends=True)[:1000]), encoding="utf-8"
    )
    completed = run("convert", "--no-cache", "specs", "-o", "out", cwd=repo)
    assert completed.returncode == 0, completed.stderr
