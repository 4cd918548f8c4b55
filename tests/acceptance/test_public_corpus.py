"""A large public corpus of edge cases: every definition of the npm package `@readme/oas-examples`
(pinned in package.json, installed by `npm ci`) converts or fails with located errors; none crashes.

The counts are printed (`pytest -s tests/acceptance/test_public_corpus.py`) and kept in the README;
an exact count is asserted, so a change in what converts is a decision, not an accident.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO_ROOT
from ..helpers import schema_errors

PACKAGE = REPO_ROOT / "node_modules" / "@readme" / "oas-examples"
EXPECTED = {"specs": 129, "converted": 129, "failed": 0}


def require_package() -> None:
    if PACKAGE.is_dir():
        return
    message = f"@readme/oas-examples is not installed at {PACKAGE}: run `npm ci`"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must install it: .ci/run runs `npm ci`)")
    pytest.skip(message)


def test_every_public_example_converts_or_fails_located(tmp_path: Path) -> None:
    require_package()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "kpn_collections",
            "convert",
            str(PACKAGE),
            "-o",
            str(tmp_path),
            "--no-cache",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=900,
    )
    assert completed.returncode in (0, 1), completed.stderr[-3000:]
    report = json.loads(completed.stderr)
    files = report["files"]
    assert report["summary"]["bug"] == 0
    failed = [f for f in files if not f["ok"]]
    for entry in failed:
        errors = [d for d in entry["diagnostics"] if d["severity"] == "error"]
        assert entry["outcome"] == "failed" and errors, entry
        for error in errors:
            assert error["file"] and error["hint"] and (error["line"] or error["pointer"]), error
    converted = [f for f in files if f["ok"]]
    for entry in converted:
        collection = json.loads(Path(entry["output"]).read_text(encoding="utf-8"))
        assert schema_errors(collection) == [], entry["source"]
    warnings = collections.Counter(
        d["code"] for f in files for d in f["diagnostics"] if d["severity"] == "warning"
    )
    by_version = collections.Counter(
        Path(f["source"]).relative_to(PACKAGE).parts[0] for f in converted
    )
    print(
        f"\n@readme/oas-examples: {len(files)} definitions, {len(converted)} converted"
        f" ({dict(sorted(by_version.items()))}), {len(failed)} failed with located errors, 0"
        f" crashed; warnings: {dict(warnings.most_common())}"
    )
    assert {"specs": len(files), "converted": len(converted), "failed": len(failed)} == EXPECTED
