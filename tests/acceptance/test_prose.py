"""The code reads as the README says: docstrings say what and why (timings live in the README's
speed section), lines fit in 100 characters, the layout section lists every package and module, and
a Diagnostic names its optional fields."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from kpn_collections.diagnostics import Diagnostic, Severity

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PACKAGE = REPO_ROOT / "kpn_collections"

SHARED_MODULES = [
    "__init__.py",
    "cli.py",
    "config.py",
    "credentials.py",
    "diagnostics.py",
    "files.py",
    "model.py",
    "naming.py",
    "overlay.py",
    "pipeline.py",
    "settings.py",
    "walk.py",
    "report.py",
    "batch/plan.py",
    "build/responses.py",
    "load/document.py",
    "load/errors.py",
    "load/yaml_reader.py",
    "refs/resolve.py",
    "refs/retrieve.py",
    "validate/library_settings.py",
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "absorb").glob("*.py")),
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "publish").glob("*.py")),
]
"""The modules whose prose this test holds to the rules (the others follow as they are tidied)."""

_MEASUREMENT = re.compile(
    r"\b\d+(?:\.\d+)?\s?(?:ms|µs|s|seconds?|minutes?)\b"  # a duration
    r"|\b(?:several|\d+(?:\.\d+)?)\s?(?:x|times)\s+(?:faster|slower|cheaper|as fast)"  # a speed-up
    r"|\btook\b.*\b(?:minutes?|seconds?)\b"  # how long something took
    r"|\b\d{1,3}(?:,\d{3})+ (?:lines|values|requests)\b",  # a count from a measurement
    re.IGNORECASE,
)


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every docstring and comment in a module."""
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.append((node.lineno, node.value.value))
    for number, line in enumerate(source.splitlines(), 1):
        if "#" in line and line.lstrip().startswith("#"):
            found.append((number, line))
    return found


@pytest.mark.parametrize("module", SHARED_MODULES)
def test_docstrings_and_comments_carry_no_timings(module: str) -> None:
    """Timings and measurements go stale in a docstring: they belong in the README's speed
    section."""
    path = PACKAGE / module
    stale = [
        f"{module}:{line}: {match.group()!r}"
        for line, text in _prose(path)
        for match in [_MEASUREMENT.search(" ".join(text.split()))]
        if match
    ]
    assert not stale, "\n".join(stale)


@pytest.mark.parametrize("module", SHARED_MODULES)
def test_lines_are_at_most_100_characters(module: str) -> None:
    lines = (PACKAGE / module).read_text(encoding="utf-8").splitlines()
    long = [f"{module}:{n}: {len(line)}" for n, line in enumerate(lines, 1) if len(line) > 100]
    assert not long, "\n".join(long)


def _layout_block() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Layout\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def test_readme_layout_names_every_package_and_module_and_nothing_else() -> None:
    """One line per package or top-level module, so the layout section cannot fall behind the
    tree."""
    block = _layout_block()
    assert block[0] == "kpn_collections/"
    listed = {match.group(1) for line in block if (match := re.match(r"  (\S+)\s", line))}
    on_disk = {
        p.name + "/" if p.is_dir() else p.name
        for p in PACKAGE.iterdir()
        if p.name not in {"__init__.py", "__main__.py", "__pycache__"}
    }
    assert listed == on_disk


def test_readme_speed_section_has_the_anchor_the_benchmark_results_link_to() -> None:
    results = (REPO_ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "README.md#where-the-time-goes" in results
    assert "\n#### Where the time goes\n" in readme


def test_diagnostic_fields_after_message_are_keyword_only() -> None:
    """`Diagnostic(severity, code, message, file=..., pointer=..., hint=...)`: a call names what it
    fills in, so a hint cannot land in the pointer."""
    keyword_only = [f.name for f in dataclasses.fields(Diagnostic) if f.kw_only]
    assert keyword_only == ["file", "pointer", "line", "column", "hint"]
    with pytest.raises(TypeError):
        Diagnostic(Severity.ERROR, "code", "message", "file.yaml")  # type: ignore[misc]
    named = Diagnostic(Severity.ERROR, "code", "message", file="file.yaml", pointer="/a", hint="h")
    assert named.located(3, 4).format() == "file.yaml:3:4: error [code] at #/a: message (hint: h)"
