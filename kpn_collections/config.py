"""Project settings from `pyproject.toml` (`[tool.kpn-collections]`) or `.kpn-collections.yaml`.

The file is looked for in the working directory and its parents, up to the repository root (the first
directory holding `.git`). Paths in it are relative to the directory that holds it (the project root).
Unknown keys are errors that name the file and the key; command-line options win over the file.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .batch import glob_base, naming_problem
from .files import read_limited
from .settings import AUTH_MODES, FOLDER_MODES, TEST_MODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

YAML_CONFIG = ".kpn-collections.yaml"
TOML_SECTION = "kpn-collections"
DEFAULT_NAMING = "{stem}.postman_collection.json"
MAX_SETTINGS_BYTES = 10 * 1024 * 1024
"""Largest settings file read (a pyproject.toml is kilobytes; a 2 GB sparse one is an error, not a wait)."""

_PER_SPEC: dict[str, Any] = {
    "folders": FOLDER_MODES,
    "base-url": str,
    "token-url": str,
    "auth-mode": AUTH_MODES,
    "tests": TEST_MODES,
    "templates": Path,
    "ref-root": Path,
    "ref-mirror": Path,
    "allow-remote-refs": bool,
    "strict": bool,
    "check-output": bool,
}
"""Settings that may differ per spec (top level, and in `overrides`): key -> type or allowed values."""

_TOP_LEVEL: dict[str, Any] = {
    **_PER_SPEC,
    "specs": list,
    "output": Path,
    "naming": str,
    "jobs": int,
    "cache": bool,
    "cache-dir": Path,
    "overrides": list,
}


_EXISTING_DIRECTORIES = frozenset({"templates", "ref-root", "ref-mirror"})
"""Path settings that must name an existing directory (as their command-line options must)."""

_CREDENTIAL_SETTING = re.compile(r"(?i)^(?:client[-_]?(?:id|secret)|access[-_]?token|token|password|secret"
                                 r"|api[-_]?key|credentials?)$")


_COMMAND_LINE_ONLY = frozenset({"allow-private-hosts", "swaggerhub-host"})
"""Options a settings file may not set: what a pull request could otherwise point at other hosts."""


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
    """The project settings for `start` (default: the working directory); empty when there are none."""
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
        data = yaml.safe_load(read_limited(path, MAX_SETTINGS_BYTES).decode("utf-8"))
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
    section = data.get("tool", {}).get(TOML_SECTION)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.{TOML_SECTION}] must be a table")
    return section


def _parse(path: Path, data: dict[str, Any]) -> ProjectConfig:
    where = f"{path}" + (f" [tool.{TOML_SECTION}]" if path.name == "pyproject.toml" else "")
    root = path.absolute().parent
    values = _checked(where, data, _TOP_LEVEL, root)
    boundary = repository_root(root)
    _confined(where, values, boundary)
    overrides = []
    for index, entry in enumerate(values.pop("overrides", [])):
        at = f"{where} overrides[{index}]"
        if not isinstance(entry, dict) or "files" not in entry:
            raise ConfigError(f"{at}: each override needs `files` (a glob or a list of globs) and settings")
        files = entry["files"]
        patterns = [files] if isinstance(files, str) else files
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise ConfigError(f"{at}: `files` must be a glob or a list of globs")
        rest = {k: v for k, v in entry.items() if k != "files"}
        override = _checked(at, rest, _PER_SPEC, root)
        _confined(at, override, boundary)
        overrides.append(Override(tuple(patterns), override))
    specs = values.get("specs")
    if specs is not None and not all(isinstance(s, str) for s in specs):
        raise ConfigError(f"{where}: `specs` must be a list of files, directories or globs")
    for spec in specs or ():
        literal = glob_base(spec) if any(c in spec for c in "*?[") else Path(spec)
        _confined(where, {"specs": root / literal}, boundary)
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
    """A settings file comes with the repository (a pull request can change it), so every path it names must
    lie inside that repository, symbolic links followed: it cannot make the tool read referenced files,
    templates or a mirror from elsewhere on the machine, nor write collections or a cache elsewhere. A
    path outside is for the command line, which the person running the tool writes."""
    inside = boundary.resolve()
    for key, value in values.items():
        if not isinstance(value, Path):
            continue
        try:
            real = value.resolve()
        except (OSError, RuntimeError):  # a symbolic link loop
            raise ConfigError(f"{where}: {key} {value} cannot be resolved (a symbolic link loop)") from None
        if not real.is_relative_to(inside):
            raise ConfigError(f"{where}: {key} leads outside the repository {boundary} (to {real}); a settings "
                              "file names only paths inside its repository: give a path outside on the command "
                              "line instead")


def _checked(where: str, data: dict[str, Any], allowed: dict[str, Any], root: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = allowed.get(key)
        if key in _COMMAND_LINE_ONLY:
            raise ConfigError(f"{where}: {key!r} is for the command line only (--{key}): it decides where "
                              "requests and the SwaggerHub API key may go, which a settings file, shared with "
                              "the repository, does not decide")
        if kind is None and _CREDENTIAL_SETTING.match(str(key)):
            raise ConfigError(f"{where}: {key!r} does not belong in a settings file, which is shared with the "
                              "repository; credentials never go into collections either: set client_id and "
                              "client_secret in Postman, or pass them to newman with --env-var client_secret=...")
        if kind is None:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {known})")
        if isinstance(kind, tuple):
            if value not in kind:
                raise ConfigError(f"{where}: {key} must be one of {', '.join(kind)}, not {value!r}")
        elif kind is Path:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: {key} must be a path (a string)")
            value = root / value
            if key in _EXISTING_DIRECTORIES and not value.is_dir():
                raise ConfigError(f"{where}: {key} names {value}, which is not a directory")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be a whole number, not {value!r}")
        elif not isinstance(value, kind):
            raise ConfigError(f"{where}: {key} must be a {kind.__name__}, not {type(value).__name__}")
        values[key] = value
    return values


def glob_matches(pattern: str, relative: str) -> bool:
    """Whether a POSIX path matches a glob where `*` stays within a directory and `**` spans any depth."""
    return re.fullmatch(_glob_regex(pattern), relative) is not None


def _glob_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
