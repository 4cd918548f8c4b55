"""The code stays typed (mypy) and lint-clean (ruff); both are installed by the `test` extra."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import REPO_ROOT


def test_ruff_is_clean() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_mypy_is_clean() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
