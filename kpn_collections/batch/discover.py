"""Which files a batch converts: command-line arguments (files, directories, globs) to spec inputs,
and each input's output file."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import read_head
from ..naming import GLOB_MAGIC, glob_base, naming_problem

if TYPE_CHECKING:
    pass


SPEC_SUFFIXES = (".yaml", ".yml", ".json")

SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "venv"})

_SPEC_MARKER = re.compile(
    rb"""(?m)^["']?(?:openapi|swagger)["']?[ \t]*:|"(?:openapi|swagger)"\s*:"""
)


@dataclass(frozen=True)
class Input:
    """One spec to convert; `base` is the directory whose tree the output mirrors (None: name
    only)."""

    path: Path
    base: Path | None = None


def looks_like_spec(path: Path) -> bool:
    """Whether a YAML/JSON file is an OpenAPI or Swagger document (has a top-level
    `openapi`/`swagger` key). Only regular files are opened (a FIFO or a device never is), and only
    their first 64 KiB are read."""
    try:
        head = read_head(path, 64 * 1024)
    except OSError:
        return False
    return _SPEC_MARKER.search(head) is not None


def discover(arguments: Sequence[str], roots: Sequence[Path] = ()) -> tuple[list[Input], list[str]]:
    """The inputs named by files, directories (searched recursively) and globs, in a stable order,
    and the arguments that named nothing. Files named directly are always inputs; files found in
    directories and by globs only when they are OpenAPI/Swagger documents (models, fragments and
    other data are skipped). Directories and globs are searched alike: symbolic links to directories
    are not followed (so no walk loops or leaves the tree), hidden directories and `node_modules`
    are skipped, only regular files are taken, and a file reached twice (also through a symbolic
    link) is one input. `roots` (from the settings file) give files named directly the tree they
    belong to."""
    inputs: list[Input] = []
    empty: list[str] = []
    seen: set[str] = set()

    def add(path: Path, base: Path | None) -> bool:
        key = os.path.realpath(path)
        if key in seen:
            return False
        seen.add(key)
        inputs.append(Input(path, base if base is not None else _root_of(path, roots)))
        return True

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = [p for p in _walk(path) if _stays_in_repository(p, path) and looks_like_spec(p)]
            for spec in found:
                add(spec, path)
            if not found:
                empty.append(argument)
        elif GLOB_MAGIC.search(argument) and not path.exists():
            base = glob_base(argument)
            specs = [
                p
                for p in _glob(argument, base)
                if _stays_in_repository(p, base) and looks_like_spec(p)
            ]
            for spec in specs:
                add(spec, base)
            if not specs:
                empty.append(argument)
        else:
            add(path, None)  # a file (a missing one is reported by the conversion, with its name)
    return inputs, empty


def _stays_in_repository(found: Path, base: Path) -> bool:
    """Whether a file found in a directory or by a glob is in the repository searched: a symbolic
    link to a file elsewhere (`specs/x.yaml -> /home/runner/...`, committed) is skipped, as links to
    directories are, so a search never reads outside the repository it was pointed at. Files named
    directly are taken as given."""
    if not os.path.islink(found):
        return True
    top = base.absolute()
    for candidate in (top, *top.parents):
        if (candidate / ".git").exists():
            top = candidate
            break
    try:
        return Path(os.path.realpath(found)).is_relative_to(os.path.realpath(top))
    except (OSError, ValueError):
        return False


def _walk(directory: Path, depth: int | None = None) -> Iterator[Path]:
    """The YAML/JSON regular files below `directory` (at most `depth` levels down), in a stable
    order."""
    top = len(directory.parts)
    # never follows symbolic links to directories
    for current, directories, files in os.walk(directory):
        if depth is not None and len(Path(current).parts) - top >= depth - 1:
            directories[:] = []
        directories[:] = sorted(
            d for d in directories if not d.startswith(".") and d not in SKIPPED_DIRECTORIES
        )
        for name in sorted(files):
            if Path(name).suffix.lower() in SPEC_SUFFIXES and not name.startswith("."):
                candidate = Path(current) / name
                with contextlib.suppress(OSError):
                    # not a FIFO, a device, a dangling link
                    if stat.S_ISREG(os.stat(candidate).st_mode):
                        yield candidate


def _glob(pattern: str, base: Path) -> Iterator[Path]:
    """The files a glob pattern matches (`**` spans directories), found by the same walk as a
    directory's."""
    wanted = Path(pattern).parts[len(base.parts) if base != Path(".") else 0 :]
    depth = None if "**" in wanted else len(wanted)
    for candidate in _walk(base, depth):
        parts = candidate.parts[len(base.parts) if base != Path(".") else 0 :]
        if _parts_match(wanted, parts):
            yield candidate


def _parts_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether path parts match glob parts (`**` is any number of parts), in time proportional to
    len(pattern) * len(parts): trying every split for each `**` took exponential time with many of
    them (`specs/**/**/.../**/x.yaml` over a deep tree, from a settings file)."""
    reachable = {0}  # how many parts the pattern so far can match
    for part in pattern:
        if part == "**":
            reachable = set(range(min(reachable), len(parts) + 1))
        else:
            reachable = {
                i + 1 for i in reachable if i < len(parts) and fnmatch.fnmatchcase(parts[i], part)
            }
        if not reachable:
            return False
    return len(parts) in reachable


def _root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    absolute = path.absolute()
    containing = [r for r in roots if absolute.is_relative_to(r.absolute())]
    return max(containing, key=lambda r: len(r.absolute().parts)) if containing else None


class NamingError(ValueError):
    """An output file name pattern that gives no usable file name (for one spec, or for any)."""


def formatted_name(naming: str, spec: Path) -> str:
    """The output file name of one spec; NamingError when the pattern, or what it makes of this
    spec's name, is not a plain file name (`{stem}` of `...yaml` is `..`)."""
    problem = naming_problem(naming)
    if problem:
        raise NamingError(problem)
    name = naming.format(stem=spec.stem, name=spec.name)
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise NamingError(f"gives {name!r} for {spec}, which is not a file name")
    return name


def output_path(spec: Input, output_dir: Path | None, naming: str) -> Path:
    """Where a spec's collection goes: beside the spec (no output directory), else under
    `output_dir` at the spec's place in the tree it was found in. NamingError when `naming` gives no
    file name for this spec."""
    name = formatted_name(naming, spec.path)
    if output_dir is None:
        return spec.path.parent / name
    relative = Path()
    if spec.base is not None:
        relative = spec.path.absolute().parent.relative_to(spec.base.absolute())
    if (
        ".." in relative.parts
    ):  # pragma: no cover - relative_to never yields `..`; kept as a guarantee
        raise ValueError(f"{spec.path} would be written outside {output_dir}")
    return output_dir / relative / name
