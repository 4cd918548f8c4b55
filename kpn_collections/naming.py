"""Output file names and spec globs, checked by both the settings file and the batch runner."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

GLOB_MAGIC = re.compile(r"[*?\[]")
NAMING_FIELDS = ("stem", "name")


def glob_base(pattern: str | Path) -> Path:
    """The directory before the first wildcard: `specs/**/*.yaml` -> `specs` (a path without one:
    its directory)."""
    parts = Path(pattern).parts
    magic = next((i for i, p in enumerate(parts) if GLOB_MAGIC.search(p)), len(parts) - 1)
    literal = parts[:magic]
    return Path(*literal) if literal else Path(".")


def naming_problem(naming: str) -> str | None:
    """Why an output file name pattern is unusable, or None: it must name a file in the output
    directory (no path separators, so no output can land outside it) and use the plain fields {stem}
    or {name}, with no format spec or conversion (`{stem:/<3}` would pad with `/`)."""
    try:
        fields = [
            (field, spec, conversion)
            for _, field, spec, conversion in string.Formatter().parse(naming)
            if field is not None
        ]
    except ValueError:
        fields = [("", None, None)]
    if any(field not in NAMING_FIELDS or spec or conversion for field, spec, conversion in fields):
        return (
            "may use only the plain fields {stem} and {name} (write {{ and }} for literal braces)"
        )
    if not fields:
        return "must contain {stem} or {name}"
    if "/" in naming or "\\" in naming or os.sep in naming or "\0" in naming:
        return "must be a file name, without directories (use -o for the output directory)"
    return None
