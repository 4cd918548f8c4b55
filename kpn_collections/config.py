"""Project settings from `pyproject.toml` (`[tool.kpn-collections]`) or `.kpn-collections.yaml`.

The file is looked for in the working directory and its parents, up to the repository root (the
first directory holding `.git`). Paths in it are relative to the directory that holds it (the
project root). Unknown keys are errors that name the file and the key; command-line options win over
the file.
"""

from __future__ import annotations

import re
import reprlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .files import read_limited
from .naming import glob_base, naming_problem
from .settings import SETTING_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

YAML_CONFIG = ".kpn-collections.yaml"
TOML_SECTION = "kpn-collections"
DEFAULT_NAMING = "{stem}.postman_collection.json"
MAX_SETTINGS_BYTES = 1024 * 1024
"""Largest settings file read (a pyproject.toml is kilobytes; a 2 GB sparse one is an error, not a
wait, and megabytes of overrides would be slow to load and match)."""
MAX_OVERRIDE_GLOBS = 1000
"""Most globs in all `overrides` together (each spec's path is matched against every one)."""

_PER_SPEC: dict[str, Any] = {
    key: kind for key, (_, kind) in SETTING_KEYS.items() if kind is not None
}
"""Settings that may differ per spec (top level, and in `overrides`): key -> type or allowed
values."""

_TOP_LEVEL: dict[str, Any] = {
    **_PER_SPEC,
    "specs": list,
    "output": Path,
    "naming": str,
    "jobs": int,
    "cache": bool,
    "cache-dir": Path,
    "overrides": list,
    "publish-state": Path,
}


_EXISTING_DIRECTORIES = frozenset({"templates", "ref-root", "ref-mirror"})
"""Path settings that must name an existing directory (as their command-line options must)."""

_CREDENTIAL_SETTING = re.compile(
    r"(?i)^(?:client[-_]?(?:id|secret)|access[-_]?token|token|password|secret"
    r"|api[-_]?key|credentials?)$"
)


_COMMAND_LINE_ONLY = frozenset(
    {"allow-private-hosts", "swaggerhub-host", "postman-api-url", "workspace"}
)
"""Options a settings file may not set: what a pull request could otherwise point at other hosts."""


MAX_GLOB_CHARS = 1024
"""Longest glob in a settings file (`specs`, an override's `files`): a path pattern, not a
document."""

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 2, 60, 60


def _shown(value: Any) -> str:
    """A value from the settings file for a message, bounded: YAML aliases can make a 1 KB file hold
    a list whose full repr has billions of items."""
    return _SHOWN.repr(value)


def _glob_checked(where: str, key: str, pattern: str) -> None:
    if len(pattern) > MAX_GLOB_CHARS:
        raise ConfigError(f"{where}: `{key}` has a glob longer than {MAX_GLOB_CHARS} characters")
    if "\0" in pattern:
        raise ConfigError(f"{where}: `{key}` has a glob with a NUL character")


class ConfigError(Exception):
    """The project settings file is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class Override:
    """Settings for the specs whose project-relative path matches one of `files`."""

    files: tuple[str, ...]
    values: dict[str, Any]

    def matches(self, relative: str) -> bool:
        """True when the project-relative POSIX path matches one of the globs."""
        return any(glob_matches(pattern, relative) for pattern in self.files)


@dataclass(frozen=True)
class ProjectConfig:
    """What the settings file says, paths already made absolute."""

    file: Path | None = None
    root: Path = field(default_factory=Path.cwd)
    values: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level value, or `default`."""
        return self.values.get(key, default)

    def for_spec(self, spec: Path) -> dict[str, Any]:
        """The per-spec values for one spec: top level, then every matching override in order."""
        values = {k: v for k, v in self.values.items() if k in _PER_SPEC}
        try:
            relative = spec.absolute().relative_to(self.root).as_posix()
        except ValueError:
            return values
        for override in self.overrides:
            if override.matches(relative):
                values.update(override.values)
        return values


def find_config(start: Path | None = None) -> ProjectConfig:
    """The project settings for `start` (default: the working directory); empty when there are
    none."""
    directory = (start or Path.cwd()).absolute()
    for candidate in (directory, *directory.parents):
        yaml_file = candidate / YAML_CONFIG
        toml_file = candidate / "pyproject.toml"
        if yaml_file.is_file():
            return load_config(yaml_file)
        if toml_file.is_file():
            section = _toml_section(toml_file)
            if section is not None:
                return _parse(toml_file, section)
        if (candidate / ".git").exists():
            break
    return ProjectConfig(root=directory)


def load_config(path: Path) -> ProjectConfig:
    """Read one settings file (`.kpn-collections.yaml`, or a pyproject.toml with our section)."""
    if path.name == "pyproject.toml":
        section = _toml_section(path)
        return _parse(path, section or {})
    try:
        text = read_limited(path, MAX_SETTINGS_BYTES).decode("utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    return _parse(path, data)


def _toml_section(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(read_limited(path, MAX_SETTINGS_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table")
    section = tool.get(TOML_SECTION)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.{TOML_SECTION}] must be a table")
    return section


def _parse(path: Path, data: dict[str, Any]) -> ProjectConfig:
    where = f"{path}" + (f" [tool.{TOML_SECTION}]" if path.name == "pyproject.toml" else "")
    root = path.absolute().parent
    values = _checked(where, data, _TOP_LEVEL, root)
    boundary = repository_root(root)
    _confined(where, values, boundary)
    overrides: list[Override] = []
    for index, entry in enumerate(values.pop("overrides", [])):
        at = f"{where} overrides[{index}]"
        if not isinstance(entry, dict) or "files" not in entry:
            raise ConfigError(
                f"{at}: each override needs `files` (a glob or a list of globs) and settings"
            )
        files = entry["files"]
        patterns = [files] if isinstance(files, str) else files
        if (
            not isinstance(patterns, list)
            or not patterns
            or not all(isinstance(p, str) for p in patterns)
        ):
            raise ConfigError(f"{at}: `files` must be a glob or a list of globs")
        for pattern in patterns:
            _glob_checked(at, "files", pattern)
        globs = sum(len(o.files) for o in overrides) + len(patterns)
        if globs > MAX_OVERRIDE_GLOBS:
            raise ConfigError(f"{at}: more than {MAX_OVERRIDE_GLOBS} globs in `overrides`")
        rest = {k: v for k, v in entry.items() if k != "files"}
        override = _checked(at, rest, _PER_SPEC, root)
        _confined(at, override, boundary)
        overrides.append(Override(tuple(patterns), override))
    specs = values.get("specs")
    if specs is not None and not all(isinstance(s, str) for s in specs):
        raise ConfigError(f"{where}: `specs` must be a list of files, directories or globs")
    for spec in specs or ():
        literal = glob_base(spec) if any(c in spec for c in "*?[") else Path(spec)
        # the whole entry too: `specs/[x]/../../elsewhere/api.yaml` names a file when a directory
        # `[x]` exists (it is then taken as a file, not a glob), and `..` after a wildcard leaves
        # the base
        _glob_checked(where, "specs", spec)
        _confined(where, {"specs": root / literal, "specs entry": root / spec}, boundary)
    problem = naming_problem(values["naming"]) if "naming" in values else None
    if problem:
        raise ConfigError(f"{where}: `naming` {problem}")
    if "jobs" in values and values["jobs"] < 1:
        raise ConfigError(f"{where}: `jobs` must be at least 1")
    return ProjectConfig(path.absolute(), root, values, tuple(overrides))


def repository_root(directory: Path) -> Path:
    """The first directory from `directory` up that holds `.git`, else `directory` itself."""
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return directory


def _confined(where: str, values: dict[str, Any], boundary: Path) -> None:
    """A settings file comes with the repository (a pull request can change it), so every path it
    names must lie inside that repository, symbolic links followed: it cannot make the tool read
    referenced files, templates or a mirror from elsewhere on the machine, nor write collections or
    a cache elsewhere. A path outside is for the command line, which the person running the tool
    writes."""
    inside = boundary.resolve()
    for key, value in values.items():
        if not isinstance(value, Path):
            continue
        try:
            real = value.resolve()
        except (OSError, RuntimeError, ValueError):  # a symbolic link loop
            raise ConfigError(
                f"{where}: {key} {value} cannot be resolved (a symbolic link loop)"
            ) from None
        if not real.is_relative_to(inside):
            raise ConfigError(
                f"{where}: {key} leads outside the repository {boundary} (to {real}); a settings "
                "file names only paths inside its repository: give a path outside on the command "
                "line instead"
            )


def _checked(
    where: str, data: dict[str, Any], allowed: dict[str, Any], root: Path
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = allowed.get(key)
        if key in _COMMAND_LINE_ONLY:
            raise ConfigError(
                f"{where}: {_shown(key)} is for the command line only (--{key}): it decides where "
                "requests and API keys (SwaggerHub's, Postman's) may go, which a settings file, "
                "shared with the repository, does not decide"
            )
        if kind is None and _CREDENTIAL_SETTING.match(str(key)):
            raise ConfigError(
                f"{where}: {_shown(key)} does not belong in a settings file, which is shared with"
                " the repository; credentials never go into collections either: set client_id and"
                " client_secret in Postman, or pass them to newman with --env-var"
                " client_secret=..."
            )
        if kind is None:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{where}: unknown key {_shown(key)} (known keys: {known})")
        if isinstance(kind, tuple):
            if value not in kind:
                raise ConfigError(
                    f"{where}: {key} must be one of {', '.join(kind)}, not {_shown(value)}"
                )
        elif kind is Path:
            if not isinstance(value, str) or not value or "\0" in value:
                raise ConfigError(
                    f"{where}: {key} must be a path (a string without NUL characters)"
                )
            value = root / value
            if key in _EXISTING_DIRECTORIES and not value.is_dir():
                raise ConfigError(f"{where}: {key} names {value}, which is not a directory")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false, not {_shown(value)}")
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be a whole number, not {_shown(value)}")
        elif not isinstance(value, kind):
            raise ConfigError(
                f"{where}: {key} must be a {kind.__name__}, not {type(value).__name__}"
            )
        values[key] = value
    return values


def glob_matches(pattern: str, relative: str) -> bool:
    """Whether a POSIX path matches a glob where `*` stays within a directory and `**` spans any
    depth. Matched in time proportional to len(pattern) * len(relative), whatever the pattern (a
    regex with many `.*` would backtrack exponentially on a long name: `*a*a*a...x` against
    `aaaa...`, from a settings file)."""
    n = len(relative)
    reachable = [False] * (n + 1)  # reachable[j]: the pattern so far can match relative[:j]
    reachable[0] = True
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):  # nothing, or anything ending with `/`
            start = reachable.index(True) if True in reachable else n + 1
            for j in range(start, n):
                if relative[j] == "/":
                    reachable[j + 1] = True
            i += 3
        elif pattern.startswith("**", i):  # anything
            start = reachable.index(True) if True in reachable else n + 1
            reachable = [j >= start for j in range(n + 1)]
            i += 2
        elif pattern[i] == "*":  # anything within a directory
            following = [False] * (n + 1)
            running = False
            for j in range(n + 1):
                running = reachable[j] or (running and relative[j - 1] != "/")
                following[j] = running
            reachable = following
            i += 1
        else:
            char = pattern[i]
            reachable = [False] + [
                reachable[j] and (relative[j] != "/" if char == "?" else relative[j] == char)
                for j in range(n)
            ]
            i += 1
        if not any(reachable):
            return False
    return reachable[n]
