"""The built wheel carries the templates and the Postman schema, and converts from an installed
copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import FIXTURES, REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(out),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (built,) = out.glob("kpn_collections-*.whl")
    return built


def test_wheel_contains_templates_and_schema(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.name for p in (REPO_ROOT / "templates").glob("*.jinja"))
    assert templates
    for name in templates:
        assert f"kpn_collections/templates/{name}" in names
    assert "kpn_collections/schemas/collection-v2.1.0.schema.json" in names
    assert "kpn_collections/schemas/overlay.schema.json" in names


def test_installed_wheel_converts_with_packaged_templates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import kpn_collections, kpn_collections.build.render as r; "
                "print(kpn_collections.__file__); print(r.package_templates_dir())"
            ),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, templates_dir = probe.stdout.split()
    assert module_file.startswith(str(target))
    assert templates_dir.startswith(str(target))
    spec = FIXTURES / "oas30" / "features" / "input.yaml"
    completed = subprocess.run(
        [sys.executable, "-m", "kpn_collections", "convert", str(spec), "-o", "-"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    golden = json.loads(
        (spec.parent / "expected.postman_collection.json").read_text(encoding="utf-8")
    )
    assert json.loads(completed.stdout) == golden
