"""What a pull request that controls the settings file or a templates folder can make the tool do: nothing
outside its repository, and no code of its own run (README: "Threat model")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpn_collections.batch import stored_credentials

from .conftest import FIXTURES
from .test_cli import run

FEATURES_30 = FIXTURES / "oas30" / "features" / "input.yaml"


def _repository(tmp_path: Path, settings: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()
    shutil.copy(FEATURES_30, repo / "specs" / "api.yaml")
    (repo / ".kpn-collections.yaml").write_text(settings, encoding="utf-8")
    return repo


@pytest.mark.parametrize("setting", [
    "ref-root: ..", "ref-mirror: ../mirror", "templates: ../templates", "output: ../out", "cache-dir: /tmp/x",
    "specs: [../elsewhere]", "specs: ['/etc/**/*.yaml']", "overrides: [{files: '**', ref-root: /}]",
])
def test_a_settings_file_names_no_path_outside_its_repository(tmp_path: Path, setting: str) -> None:
    for folder in ("mirror", "templates", "elsewhere"):
        (tmp_path / folder).mkdir()
    repo = _repository(tmp_path, setting + "\n")
    completed = run("convert", "specs/api.yaml", cwd=repo)
    assert completed.returncode == 2, completed.stderr
    assert "leads outside the repository" in completed.stderr and "Traceback" not in completed.stderr
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


@pytest.mark.parametrize("payload", [
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context.environment.loader }}",
])
def test_a_template_from_a_pull_request_runs_no_code(tmp_path: Path, payload: str) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "request.description.md.jinja").write_text(payload + "\n", encoding="utf-8")
    completed = run("convert", str(FEATURES_30), "-o", str(tmp_path / "out"), "--templates", str(templates),
                    cwd=tmp_path)
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
    (templates / "collection.description.md.jinja").write_text("{% include 'linked.jinja' %}\n", encoding="utf-8")
    (templates / "linked.jinja").symlink_to(secret)
    completed = run("convert", str(FEATURES_30), "-o", "-", "--templates", str(templates))
    assert "the machine's own file" not in completed.stdout
    assert completed.returncode == 1 and "error [template-error]" in completed.stderr


def test_sandboxed_user_templates_render_what_the_packaged_ones_do(tmp_path: Path) -> None:
    """An empty templates folder puts every packaged template in the sandbox: the output is the same."""
    (tmp_path / "empty").mkdir()
    plain = run("convert", str(FEATURES_30), "-o", "-", "--no-cache")
    sandboxed = run("convert", str(FEATURES_30), "-o", "-", "--no-cache", "--templates", str(tmp_path / "empty"))
    assert plain.returncode == sandboxed.returncode == 0
    assert json.loads(plain.stdout) == json.loads(sandboxed.stdout)


@pytest.mark.parametrize("content", [
    "[" * 200_000 + "]" * 200_000,
    '{"info": {}, "variable": "x", "item": [{"name": "x", "event": "abc", "item": {"a": 1}}]}',
    '{"variable": [1, null, {"key": "client_secret", "value": 7}], "event": [{"script": "x"}], "item": [3]}',
    '{"item": [' + '{"item": [' * 450 + "]}" * 450 + "]}",
])
def test_check_reads_a_hand_edited_collection_of_any_shape(tmp_path: Path, content: str) -> None:
    """`--check` reads the collection on disk, which anyone can edit: any shape is stale, never a crash."""
    shutil.copy(FEATURES_30, tmp_path / "api.yaml")
    (tmp_path / "api.postman_collection.json").write_text(content, encoding="utf-8")
    completed = run("convert", "api.yaml", "--check", "--no-cache", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert "is stale" in completed.stderr and "internal error" not in completed.stderr


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["item", "event", "script", "exec", "variable", "key",
                                                       "value", "description", "name"]), inner, max_size=5),
                    max_leaves=40))
@settings(max_examples=200, derandomize=True, deadline=None)
def test_credential_sweep_of_an_edited_collection_never_raises(value: object) -> None:
    assert isinstance(stored_credentials(json.dumps({"item": [value], "variable": [value], "event": [value]}),
                                         "c.json"), tuple)
