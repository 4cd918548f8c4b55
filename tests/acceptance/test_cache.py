"""The batch cache serves a result only for exactly the inputs that produced it: the key and the
recorded dependencies cover every input, records are checked like input and must be signed by this
user's tool, and a hit passes the final output checks of a fresh conversion."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpn_collections.batch import cache as batch
from kpn_collections.batch.jobs import Job, run_job
from kpn_collections.settings import AUTH_MODES, FOLDER_MODES, TEST_MODES, Settings
from kpn_collections.write import collection_bytes

from ..acceptance.test_cli import console_script
from ..conftest import FIXTURES

MULTI_FILE = FIXTURES / "refs" / "multi-file-oas30"
OUTPUT = Path("out") / "spec.postman_collection.json"


def convert(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script with a memory limit and a generous timeout: a read of /dev/zero or a FIFO
    fails the test instead of filling the memory or hanging it."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(
        [*console_script(), "convert", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
        preexec_fn=limit_memory,
    )


def report(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    files: list[dict[str, Any]] = json.loads(completed.stderr)["files"]
    assert len(files) == 1, completed.stderr
    return files[0]


def records(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*.json") if not p.name.endswith(".postman_collection.json")]


def read_record(path: Path) -> Any:
    raw = path.read_bytes()
    return json.loads(raw if raw.startswith(b"{") else raw.partition(b"\n")[2])


def write_record(path: Path, data: Any, signing_key: bytes | None = None) -> None:
    """Write a cache record as a tool with `signing_key` (default: this user's) would: signed when
    the code under test signs records (before issue 17 they were plain JSON)."""
    body = json.dumps(data).encode("utf-8")
    if hasattr(batch, "_signature"):
        key = signing_key if signing_key is not None else batch._signing_key()
        assert key is not None
        body = batch._signature(key, path.stem, body) + b"\n" + body
    path.write_bytes(body)


def set_content_digest(data: dict[str, Any], content: bytes) -> None:
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    if isinstance(data["content"], dict):
        data["content"] = {"sha256": digest, "size": len(content)}
    else:
        data["content"] = digest


def test_two_checkouts_with_the_same_relative_spec_path_never_share_a_result(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "one", tmp_path / "two"
    for checkout in (first, second):
        shutil.copytree(MULTI_FILE, checkout / "api")
    money = second / "api" / "models" / "money.yaml"
    money.write_text(money.read_text(encoding="utf-8").replace("9.95", "12.5"), encoding="utf-8")
    args = ("api/spec.yaml", "-o", "out", "--cache-dir", str(cache), "--format", "json")
    assert report(convert(first, *args))["outcome"] == "written"
    (second / "out").mkdir()
    shutil.copy(first / OUTPUT, second / OUTPUT)  # the other checkout's collection: stale here
    checked = convert(second, *args, "--check")
    assert checked.returncode == 1 and report(checked)["outcome"] == "stale", checked.stderr
    assert report(convert(second, *args))["outcome"] == "written"
    assert "12.5" in (second / OUTPUT).read_text(encoding="utf-8")
    assert "9.95" in (first / OUTPUT).read_text(encoding="utf-8")


def job_for(spec: Path, cache: Path | None, settings: Settings | None = None) -> Job:
    return Job(0, spec, None, settings or Settings(), cache_dir=cache)


def test_retargeting_a_symlinked_ref_file_invalidates_the_entry(tmp_path: Path) -> None:
    shutil.copytree(MULTI_FILE, tmp_path / "api")
    models = tmp_path / "api" / "models"
    (models / "money.yaml").rename(models / "money-a.yaml")
    (models / "money-b.yaml").write_text(
        (models / "money-a.yaml").read_text(encoding="utf-8").replace("9.95", "12.5"),
        encoding="utf-8",
    )
    (models / "money.yaml").symlink_to("money-a.yaml")
    job = job_for(tmp_path / "api" / "spec.yaml", tmp_path / "cache")
    assert "9.95" in (run_job(job).text or "")
    assert run_job(job).cached
    (models / "money.yaml").unlink()
    (models / "money.yaml").symlink_to("money-b.yaml")
    result = run_job(job)
    assert not result.cached and "12.5" in (result.text or "") and "9.95" not in (result.text or "")


MIRRORED_SPEC = """\
openapi: 3.0.3
info: {title: Mirrored, version: '1'}
servers: [{url: 'https://api.example.com'}]
paths:
  /errors:
    post:
      operationId: report
      requestBody:
        content:
          application/json:
            schema: {$ref: 'https://schemas.example.com/common/error#/Error'}
      responses:
        '204': {description: done}
"""


def error_schema(example: object) -> str:
    return json.dumps(
        {
            "Error": {
                "type": "object",
                "properties": {"code": {"type": "integer", "example": example}},
            }
        }
    )


def mirrored_workspace(root: Path) -> tuple[Path, Path]:
    """A spec whose remote $ref is served from a mirror (as error.json); (spec, mirror)."""
    (root / "api").mkdir()
    spec = root / "api" / "spec.yaml"
    spec.write_text(MIRRORED_SPEC, encoding="utf-8")
    common = root / "mirror" / "schemas.example.com" / "common"
    common.mkdir(parents=True)
    (common / "error.json").write_text(error_schema(111), encoding="utf-8")
    return spec, root / "mirror"


def test_mirror_files_that_would_now_take_precedence_and_the_prefix_map_invalidate(
    tmp_path: Path,
) -> None:
    spec, mirror = mirrored_workspace(tmp_path)
    job = job_for(spec, tmp_path / "cache", Settings(ref_mirror=mirror))
    assert "111" in (run_job(job).text or "") and run_job(job).cached
    common = mirror / "schemas.example.com" / "common"
    # looked up before error.json
    (common / "error.yaml").write_text(error_schema(222), encoding="utf-8")
    result = run_job(job)
    assert not result.cached and "222" in (result.text or "")
    assert run_job(job).cached
    (mirror / "other").mkdir()
    (mirror / "other" / "error.yml").write_text(error_schema(333), encoding="utf-8")
    (mirror / "prefixes.yaml").write_text(
        "'https://schemas.example.com/common/': other/\n", encoding="utf-8"
    )
    result = run_job(job)
    assert not result.cached and "333" in (result.text or "")
    assert run_job(job).cached
    # the prefix map is a dependency
    (mirror / "prefixes.yaml").write_text("{}\n", encoding="utf-8")
    result = run_job(job)
    assert not result.cached and "222" in (result.text or "")


def test_a_template_in_a_symlinked_folder_is_part_of_the_key(tmp_path: Path) -> None:
    """The template loader follows symlinked folders (within the templates folder: it reads nothing
    outside): the key's hash of the templates folder does too."""
    shutil.copytree(MULTI_FILE, tmp_path / "api")
    templates = tmp_path / "templates"
    parts = templates / "shared" / "parts"
    parts.mkdir(parents=True)
    (templates / "parts").symlink_to(parts)
    (templates / "request.description.md.jinja").write_text(
        '{% include "parts/note.jinja" %}\n', encoding="utf-8"
    )
    (parts / "note.jinja").write_text("first note", encoding="utf-8")
    job = job_for(
        tmp_path / "api" / "spec.yaml", tmp_path / "cache", Settings(templates_dir=templates)
    )
    assert "first note" in (run_job(job).text or "") and run_job(job).cached
    (parts / "note.jinja").write_text("second note", encoding="utf-8")
    result = run_job(job)
    assert not result.cached and "second note" in (result.text or "")


def test_cache_key_covers_the_python_and_libraries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another version of a parser or validator may judge a definition differently: no shared
    results."""
    job = job_for(MULTI_FILE / "spec.yaml", tmp_path)
    before = batch.Cache(tmp_path).key(job)
    monkeypatch.setattr(batch, "_runtime", lambda: "another interpreter")
    assert batch.Cache(tmp_path).key(job) != before


def test_cache_key_covers_the_fast_paths_switch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """KPN_COLLECTIONS_FAST_PATHS rules fast paths out: a result made with other fast paths on is
    not served."""
    from kpn_collections import fast_paths

    job = job_for(MULTI_FILE / "spec.yaml", tmp_path)
    keys = set()
    for on in (frozenset(fast_paths.FAST_PATHS), frozenset(), frozenset({"yaml-rs"})):
        monkeypatch.setattr(fast_paths, "ON", on)
        keys.add(batch.Cache(tmp_path).key(job))
    assert len(keys) == 3


def test_the_signing_key_is_private_to_the_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Made 0600 in the user's cache directory; one others could read, or a symlink to another file,
    is replaced."""
    monkeypatch.setenv("KPN_COLLECTIONS_CACHE_DIR", str(tmp_path / "home-cache"))
    key_file = tmp_path / "home-cache" / batch.SIGNING_KEY_FILE
    try:
        batch._signing_key.cache_clear()
        made = batch._signing_key()
        assert made is not None and len(made) == 32 and key_file.stat().st_mode & 0o777 == 0o600
        batch._signing_key.cache_clear()
        assert batch._signing_key() == made  # kept
        key_file.chmod(0o644)
        batch._signing_key.cache_clear()
        replaced = batch._signing_key()
        assert replaced not in (None, made) and key_file.stat().st_mode & 0o777 == 0o600
        planted = tmp_path / "planted"
        planted.write_bytes(b"k" * 32)
        planted.chmod(0o600)
        key_file.unlink()
        key_file.symlink_to(planted)
        batch._signing_key.cache_clear()
        assert batch._signing_key() not in (None, b"k" * 32) and not key_file.is_symlink()
    finally:
        batch._signing_key.cache_clear()


@pytest.fixture
def cached_checkout(tmp_path: Path) -> tuple[Path, tuple[str, ...], Path]:
    """A checkout converted once with the cache on: (checkout, arguments, the one cache record)."""
    shutil.copytree(MULTI_FILE, tmp_path / "api")
    args = (
        "api/spec.yaml",
        "-o",
        "out",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--format",
        "json",
    )
    assert report(convert(tmp_path, *args))["outcome"] == "written"
    [record] = records(tmp_path / "cache")
    return tmp_path, args, record


def hostile_records(genuine: dict[str, Any], tmp_path: Path) -> list[Any]:
    """Records a careless or hostile hand made: wrong shapes and types, dependencies that are no
    files."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as handle:
        handle.truncate(2 << 30)

    def depending_on(path: str) -> dict[str, Any]:
        dependencies = [
            [path, *([path] if len(d) == 3 else []), d[-1]] for d in genuine["dependencies"]
        ]
        return {**genuine, "dependencies": dependencies}

    line_as_text = {
        "severity": "warning",
        "code": "made-up",
        "message": "m",
        "file": "f",
        "pointer": "",
        "line": "3",
        "column": None,
        "hint": "",
    }
    return [
        [],
        "text",
        None,
        {**genuine, "content": 5},
        {**genuine, "diagnostics": [["not", "a", "dict"]]},
        {**genuine, "diagnostics": [line_as_text]},
        {**genuine, "dependencies": {"a": "b"}},
        {**genuine, "dependencies": [[1, 2, 3]]},
        depending_on("/dev/zero"),
        depending_on(str(fifo)),
        depending_on(str(sparse)),
    ]


def test_a_hand_made_or_broken_record_is_ignored_and_rebuilt(
    cached_checkout: tuple[Path, tuple[str, ...], Path], tmp_path: Path
) -> None:
    checkout, args, record = cached_checkout
    genuine = read_record(record)
    for hostile in hostile_records(genuine, tmp_path):
        write_record(record, hostile)
        completed = convert(checkout, *args)
        assert completed.returncode == 0, (hostile, completed.stderr)
        assert (report(completed)["outcome"], report(completed)["cached"]) == (
            "unchanged",
            False,
        ), hostile
    content = record.with_name(record.stem + ".postman_collection.json")
    raw = record.read_bytes()
    for damage in ("truncated", "garbage", "fifo", "dev-zero", "content-fifo", "content-dev-zero"):
        assert report(convert(checkout, *args))["cached"], damage  # the rebuilt entry is served
        if damage == "truncated":
            record.write_bytes(raw[: len(raw) // 2])
        elif damage == "garbage":
            record.write_bytes(b"\x00\xff" * 100)
        else:
            victim = content if damage.startswith("content") else record
            victim.unlink()
            if damage.endswith("fifo"):
                os.mkfifo(victim)
            else:
                victim.symlink_to("/dev/zero")
        completed = convert(checkout, *args)
        assert completed.returncode == 0, (damage, completed.stderr)
        assert (report(completed)["outcome"], report(completed)["cached"]) == (
            "unchanged",
            False,
        ), damage


def test_a_cache_hit_passes_the_credential_sweep(
    cached_checkout: tuple[Path, tuple[str, ...], Path],
) -> None:
    checkout, args, record = cached_checkout
    content_file = record.with_name(record.stem + ".postman_collection.json")
    collection = json.loads(content_file.read_bytes())
    collection["variable"] = [
        *collection.get("variable", []),
        {"key": "client_secret", "value": "s3cr3t-Value-9"},
    ]
    leaking = collection_bytes(collection)
    content_file.write_bytes(leaking)
    data = read_record(record)
    set_content_digest(data, leaking)
    write_record(record, data)  # as if this user's tool had written it
    completed = convert(checkout, *args)
    assert (report(completed)["outcome"], report(completed)["cached"]) == (
        "unchanged",
        False,
    ), completed.stderr
    assert b"s3cr3t" not in (checkout / OUTPUT).read_bytes()


def test_check_never_passes_a_crafted_entry_committed_in_the_repository(tmp_path: Path) -> None:
    """A repository sets `cache-dir` inside itself and commits an entry for a tampered collection
    (made with the attacker's own tool, signed with the attacker's key): --check does not pass it,
    convert does not serve it."""
    repository = tmp_path / "repository"
    (repository / ".git").mkdir(parents=True)
    shutil.copytree(MULTI_FILE, repository / "api")
    (repository / ".kpn-collections.yaml").write_text(
        "output: out\ncache-dir: .cache/kpn\n", encoding="utf-8"
    )
    attacker = {"KPN_COLLECTIONS_CACHE_DIR": str(tmp_path / "attacker-home")}
    assert convert(repository, "api/spec.yaml", "--format", "json", env=attacker).returncode == 0
    genuine = (repository / OUTPUT).read_bytes()
    collection = json.loads(genuine)
    collection["item"][0]["name"] = "Tampered"
    tampered = collection_bytes(collection)
    [record] = records(repository / ".cache" / "kpn")
    record.with_name(record.stem + ".postman_collection.json").write_bytes(tampered)
    data = read_record(record)
    set_content_digest(data, tampered)
    attacker_key = None
    if hasattr(batch, "_signature"):
        attacker_key = (tmp_path / "attacker-home" / batch.SIGNING_KEY_FILE).read_bytes()
    write_record(record, data, attacker_key)
    (repository / OUTPUT).write_bytes(tampered)

    # the victim: another key
    checked = convert(repository, "api/spec.yaml", "--check", "--format", "json")
    assert checked.returncode == 1 and report(checked)["outcome"] == "stale", checked.stderr
    assert report(convert(repository, "api/spec.yaml", "--format", "json"))["outcome"] == "written"
    assert (repository / OUTPUT).read_bytes() == genuine


PET_SPEC = """\
openapi: 3.0.3
info: {title: TITLE, version: '1'}
servers: [{url: 'https://api.example.com'}]
paths:
  /pets:
    post:
      operationId: addPet
      requestBody:
        content:
          application/json:
            schema: {$ref: 'models/pet.yaml#/Pet'}
      responses:
        '204': {description: done}
""" + MIRRORED_SPEC.split("paths:\n", 1)[1]


def pet_model(example: str) -> str:
    return json.dumps(
        {"Pet": {"type": "object", "properties": {"name": {"type": "string", "example": example}}}}
    )


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
CHANGES = st.one_of(
    st.tuples(st.just("spec"), TEXT),
    st.tuples(st.just("ref"), TEXT),
    st.tuples(st.just("ref-symlink"), TEXT),
    st.tuples(st.just("mirror"), st.integers(0, 999)),
    st.tuples(
        st.just("mirror-precedence"), st.sampled_from(["", ".yaml", ".yml"]), st.integers(0, 999)
    ),
    st.tuples(st.just("prefixes"), st.integers(0, 999)),
    st.tuples(
        st.just("template"),
        st.sampled_from(
            [
                "request.description.md.jinja",
                "request.test.js.jinja",
                "collection.description.md.jinja",
            ]
        ),
        TEXT,
    ),
    st.tuples(
        st.just("setting"),
        st.sampled_from(
            ["folders", "auth_mode", "tests", "strict", "base_url", "token_url", "check_output"]
        ),
        st.integers(0, 5),
    ),
)
SETTING_VALUES: dict[str, list[Any]] = {
    "folders": list(FOLDER_MODES),
    "auth_mode": list(AUTH_MODES),
    "tests": list(TEST_MODES),
    "strict": [True, False],
    "base_url": [None, "https://other.example.com/v2", "https://api.example.com"],
    "check_output": [True, False],
    "token_url": [None, "https://login.example.com/token", "https://login.example.com/other"],
}


def apply(change: tuple[Any, ...], root: Path, spec: Path, current: Settings) -> Settings:
    """Make one change to one input; the settings to convert with afterwards."""
    kind = change[0]
    models = spec.parent / "models"
    common = root / "mirror" / "schemas.example.com" / "common"
    if kind == "spec":
        spec.write_text(PET_SPEC.replace("TITLE", json.dumps(change[1])), encoding="utf-8")
    elif kind == "ref":
        (models / "pet.yaml").write_text(pet_model(change[1]), encoding="utf-8")
    elif kind == "ref-symlink":
        (models / "other.yaml").write_text(pet_model(change[1]), encoding="utf-8")
        (models / "pet.yaml").unlink()
        (models / "pet.yaml").symlink_to("other.yaml")
    elif kind == "mirror":
        (common / "error.json").write_text(error_schema(change[1]), encoding="utf-8")
    elif kind == "mirror-precedence":
        (common / f"error{change[1]}").write_text(error_schema(change[2]), encoding="utf-8")
    elif kind == "prefixes":
        (root / "mirror" / "alt").mkdir()
        (root / "mirror" / "alt" / "error.json").write_text(
            error_schema(change[1]), encoding="utf-8"
        )
        (root / "mirror" / "prefixes.yaml").write_text(
            "'https://schemas.example.com/common/': alt/\n", encoding="utf-8"
        )
    elif kind == "template":
        (root / "templates" / change[1]).write_text(change[2], encoding="utf-8")
    else:
        values = SETTING_VALUES[change[1]]
        return Settings(**{**current.__dict__, change[1]: values[change[2] % len(values)]})
    return current


def run_as_a_new_process(job: Job) -> Any:
    """run_job as each command-line run does it, with no templates compiled before (in one process,
    Jinja takes a template rewritten within its file system's timestamp granularity for
    unchanged)."""
    from kpn_collections.build import render

    render._environment.cache_clear()
    return run_job(job)


@given(change=CHANGES)
@settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow],
)
def test_any_input_change_that_changes_the_output_is_never_served_the_old_result(
    change: tuple[Any, ...],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        spec, mirror = mirrored_workspace(root)
        spec.write_text(PET_SPEC.replace("TITLE", "Pets"), encoding="utf-8")
        (spec.parent / "models").mkdir()
        (spec.parent / "models" / "pet.yaml").write_text(pet_model("Rex"), encoding="utf-8")
        (root / "templates").mkdir()
        (root / "templates" / "request.test.js.jinja").write_text("// tested\n", encoding="utf-8")
        before = Settings(ref_mirror=mirror, templates_dir=root / "templates")
        cache = root / "cache"
        first = run_as_a_new_process(job_for(spec, cache, before))
        assert first.outcome == "stdout", first
        assert run_as_a_new_process(
            job_for(spec, cache, before)
        ).cached  # the cache is in use: not vacuous
        after = apply(change, root, spec, before)
        served = run_as_a_new_process(job_for(spec, cache, after))
        fresh = run_as_a_new_process(job_for(spec, None, after))
        assert (served.outcome, served.text, served.diagnostics) == (
            fresh.outcome,
            fresh.text,
            fresh.diagnostics,
        )
