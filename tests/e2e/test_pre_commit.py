"""The pre-commit hooks, run by the real (pinned) pre-commit as a spec repository uses them
(`pre-commit run HOOK` with a config naming this project's repository at a commit), in a temporary
spec repository holding some of the KPN corpus specs. The hook environment is built once, in the
module's PRE_COMMIT_HOME (`pre-commit try-repo` would build it anew for every call, 10 s each)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..acceptance.test_cli import console_script
from ..conftest import CORPUS, REPO_ROOT, require_corpus

FIXED_DATE = "2026-01-01T00:00:00+00:00"
SPECS = ("kpn-sms-openapi.yml", "kpn-tv-guide-openapi.yml", "kpn-sim-swap-openapi.yml")


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": FIXED_DATE,
        "GIT_COMMITTER_DATE": FIXED_DATE,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's current files as a one-commit git repository (pre-commit installs hooks from a
    commit; a fixed date gives the same commit, so the hook environment is built once)."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to test the pre-commit hooks")
    snapshot = tmp_path_factory.mktemp("hook-repo")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO_ROOT)
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() and not name.startswith(("fixtures/", "tests/")):
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    git("init", "-q", cwd=snapshot)
    git("add", "-A", cwd=snapshot)
    git("commit", "-q", "-m", "snapshot", cwd=snapshot)
    return snapshot


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="module")
def hook_config(hook_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `.pre-commit-config.yaml` naming both hooks of the snapshot repository at its commit (kept
    outside the spec repositories, so that it is no staged file the hooks are given)."""
    rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    config = tmp_path_factory.mktemp("pre-commit-config") / ".pre-commit-config.yaml"
    config.write_text(
        f"repos:\n- repo: {hook_repo.as_posix()}\n  rev: {rev}\n  hooks:\n"
        "  - id: kpn-collections\n  - id: kpn-collections-check\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def spec_repo(tmp_path: Path) -> Path:
    require_corpus()
    repo = tmp_path / "spec-repo"
    (repo / "specs").mkdir(parents=True)
    for name in SPECS:
        shutil.copy(CORPUS / name, repo / "specs" / name)
    git("init", "-q", cwd=repo)
    return repo


def run_hook(config: Path, home: Path, repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit run HOOK` on the staged files of `repo`."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    command = [str(pre_commit)] if pre_commit.exists() else [sys.executable, "-m", "pre_commit"]
    return subprocess.run(
        [*command, "run", hook, "--config", str(config), "--color", "never"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PRE_COMMIT_HOME": str(home)},
    )


def test_hooks_file_declares_both_hooks() -> None:
    text = (REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: kpn-collections\n" in text and "- id: kpn-collections-check\n" in text


def test_generate_stage_edit_check_break(
    hook_config: Path, pre_commit_home: Path, spec_repo: Path
) -> None:
    collections = [
        spec_repo / "specs" / (Path(name).stem + ".postman_collection.json") for name in SPECS
    ]

    # 1. the first commit generates the collections and fails, naming the files to add
    git("add", "specs", cwd=spec_repo)
    first = run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "git add " in first.stdout
    for collection in collections:
        assert collection.exists()
        assert f"specs/{collection.name}" in first.stdout

    # 2. after `git add` it passes, and so does the check hook
    git("add", "specs", cwd=spec_repo)
    second = run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (
        run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections-check").returncode == 0
    )
    git("commit", "-q", "-m", "specs and collections", cwd=spec_repo)

    # 3. editing a spec makes the check hook fail (writing nothing) until the collection is
    # regenerated
    sms = spec_repo / "specs" / SPECS[0]
    sms.write_text(
        sms.read_text(encoding="utf-8").replace("title:", "title: Edited", 1), encoding="utf-8"
    )
    git("add", str(sms), cwd=spec_repo)
    before = collections[0].read_bytes()
    stale = run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections-check")
    assert stale.returncode == 1, stale.stdout
    assert f"specs/{collections[0].name} is stale" in stale.stdout
    assert collections[0].read_bytes() == before
    regenerate = run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections")
    assert (
        regenerate.returncode == 1 and f"git add specs/{collections[0].name}" in regenerate.stdout
    )
    git("add", "specs", cwd=spec_repo)
    assert (
        run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections-check").returncode == 0
    )

    # 4. a broken spec fails with a located message
    broken = spec_repo / "specs" / "broken-openapi.yaml"
    broken.write_text(
        "openapi: 3.0.3\ninfo:\n  title: Broken\n  version: '1'\npaths:\n  /a: [\n",
        encoding="utf-8",
    )
    git("add", str(broken), cwd=spec_repo)
    failed = run_hook(hook_config, pre_commit_home, spec_repo, "kpn-collections")
    assert failed.returncode == 1
    assert "specs/broken-openapi.yaml:" in failed.stdout and ": error [" in failed.stdout
    assert "specs/broken-openapi.yaml: FAILED" in failed.stdout


def test_hook_calls_split_over_processes_agree(spec_repo: Path) -> None:
    """pre-commit may split the file list over parallel processes: each must do its share
    correctly."""
    names = [f"specs/{name}" for name in SPECS]
    processes = [
        subprocess.Popen(
            [*console_script(), "convert", "--pre-commit", *part],
            cwd=spec_repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (names[:1], names[1:])
    ]
    for process in processes:
        process.communicate()
        assert process.returncode == 1  # wrote collections
    together = subprocess.run(
        [*console_script(), "convert", "--pre-commit", "--check", *names],
        cwd=spec_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert together.returncode == 0, together.stderr


def test_staged_model_file_regenerates_the_configured_specs_that_use_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "fixtures" / "refs" / "multi-file-oas30",
        repo / "api",
        ignore=shutil.ignore_patterns("resolved"),
    )
    (repo / ".git").mkdir()
    (repo / ".kpn-collections.yaml").write_text("specs: [api]\n", encoding="utf-8")
    run = [*console_script(), "convert", "--pre-commit"]
    assert (
        subprocess.run(
            [*run, "api/spec.yaml"], cwd=repo, capture_output=True, check=False
        ).returncode
        == 1
    )
    assert (
        subprocess.run(
            [*run, "--check", "api/models/money.yaml"], cwd=repo, capture_output=True, check=False
        ).returncode
        == 0
    )
    money = repo / "api" / "models" / "money.yaml"
    money.write_text(money.read_text(encoding="utf-8").replace("9.95", "12.5"), encoding="utf-8")
    # only the model file is staged: the spec that refers to it is found through the settings file
    check = subprocess.run(
        [*run, "--check", "api/models/money.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1 and "spec.postman_collection.json is stale" in check.stderr
    regenerate = subprocess.run(
        [*run, "api/models/money.yaml"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert (
        regenerate.returncode == 1
        and "git add api/spec.postman_collection.json" in regenerate.stderr
    )


def test_specs_named_like_options_are_files_to_the_hooks(
    hook_config: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    """pre-commit appends the staged file names to the hook's entry and args; the hooks' `args:
    [--]` make a spec named `-o.yaml` or `--help.yaml` a file, not an option."""
    repo = tmp_path / "dashes"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    for name in ("-o.yaml", "--help.yaml"):
        shutil.copy(REPO_ROOT / "fixtures" / "oas30" / "features" / "input.yaml", repo / name)
    git("add", "--", "-o.yaml", "--help.yaml", cwd=repo)
    generate = run_hook(hook_config, pre_commit_home, repo, "kpn-collections")
    assert generate.returncode == 1, generate.stdout  # it wrote the two collections
    assert (repo / "-o.postman_collection.json").is_file() and (
        repo / "--help.postman_collection.json"
    ).is_file()
    git("add", "--", "-o.postman_collection.json", "--help.postman_collection.json", cwd=repo)
    check = run_hook(hook_config, pre_commit_home, repo, "kpn-collections-check")
    assert check.returncode == 0, check.stdout
