"""Planning a batch: the specs a `convert` run takes, where each collection goes and with which
settings, as jobs (`plan_conversion`); what is wrong with the command line or the settings file is a
PlanError, which the CLI reports as a usage error."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import DEFAULT_NAMING, ProjectConfig
from ..files import MAX_FILE_BYTES
from ..naming import GLOB_MAGIC, glob_base, naming_problem
from ..overlay import spec_of_overlay
from ..refs.retrieve import MirrorConfigError, MirrorRetriever
from ..settings import SETTING_KEYS, Settings
from .cache import default_cache_dir
from .discover import Input, NamingError, discover, looks_like_spec, output_path
from .jobs import Job

NO_SPECS = (
    "no SPECS given, and no `specs` in a settings file (.kpn-collections.yaml or "
    "[tool.kpn-collections] in pyproject.toml)"
)


class PlanError(Exception):
    """A usage error; `setting` names the option or setting it is about (a bad value), or is None
    (a usage error as a whole)."""

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Options:
    """What the command line says beyond the settings: SPECS, -o, --naming, the cache, --jobs,
    --check and hook mode; `settings` holds the settings it gives (settings-file keys -> values)."""

    specs: Sequence[str]
    settings: dict[str, Any]
    output: str | None = None
    naming: str | None = None
    cache: bool | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    check: bool = False
    pre_commit: bool = False


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    workers: int
    """Processes to run the jobs over (this one included)."""


def plan_conversion(options: Options, config: ProjectConfig, say: Callable[[str], None]) -> Plan:
    """The jobs of a `convert` run, or a PlanError; `say` is told of each SPECS argument that names
    no OpenAPI or Swagger document (not in hook mode)."""
    roots = [config.root / s for s in config.get("specs", [])]
    tree_roots = [tree_root(r, config.file) for r in roots]
    arguments = list(options.specs) or [str(r) for r in roots]
    if not arguments:
        raise PlanError(NO_SPECS)
    inputs, empty = discover(arguments, tree_roots)
    if options.pre_commit:
        inputs = _pre_commit_inputs(inputs, roots, tree_roots)
    else:
        for argument in empty:
            say(f"{argument}: no OpenAPI or Swagger documents found")
    output = options.output
    if output == "-" and len(inputs) != 1:
        raise PlanError("-o - (stdout) takes exactly one SPEC")
    output_dir = (
        None
        if output in (None, "-") and "output" not in config.values
        else (Path(output) if output not in (None, "-") else config.get("output"))
    )
    if output_dir is not None:
        _refuse_unusable_output_dir(
            output_dir, "-o" if output not in (None, "-") else f"`output` in {config.file}"
        )
    naming_setting = "--naming" if options.naming else f"`naming` in {config.file}"
    naming = options.naming or config.get("naming", DEFAULT_NAMING)
    problem = naming_problem(naming)
    if problem:
        raise PlanError(problem, naming_setting)
    use_cache = options.cache if options.cache is not None else config.get("cache", True)
    cache_directory = (
        (options.cache_dir or config.get("cache-dir") or default_cache_dir()) if use_cache else None
    )
    jobs = []
    for index, spec in enumerate(inputs):
        settings = settings_from({**config.for_spec(spec.path), **options.settings})
        check_mirror(settings.ref_mirror)
        try:
            target = None if output == "-" else near(output_path(spec, output_dir, naming))
        except NamingError as exc:
            raise PlanError(str(exc), naming_setting) from None
        # the conversion reports the others
        cached_in = cache_directory if _cacheable(spec.path) else None
        jobs.append(
            Job(
                index, spec.path, target, settings, options.check, cached_in, output_root=output_dir
            )
        )
    _refuse_clashes(jobs)
    cores = options.jobs or config.get("jobs") or os.cpu_count() or 1
    workers = min(cores, max(len(jobs), 1))
    if len(jobs) == 1 and cores > 1:  # one spec, a core to spare: validate it beside the build
        jobs[0] = dataclasses.replace(jobs[0], validate_beside=True)
    return Plan(jobs, workers)


def settings_from(values: dict[str, object]) -> Settings:
    """Settings from settings-file keys (`folders`, `auth-mode`, ...) and their values."""
    fields = {SETTING_KEYS[key][0]: value for key, value in values.items()}
    return Settings(**fields)  # type: ignore[arg-type]


def tree_root(spec_setting: Path, config_file: Path | None) -> Path:
    """The tree an entry of the settings file's `specs` stands for: a directory, a glob's fixed
    part, or a single file's directory; a PlanError when it names nothing."""
    if spec_setting.is_dir():
        return spec_setting
    if GLOB_MAGIC.search(str(spec_setting)):
        return glob_base(spec_setting)
    if spec_setting.exists():
        return spec_setting.parent
    raise PlanError(f"{config_file}: `specs` names {spec_setting}, which does not exist")


def near(path: Path) -> Path:
    """A path relative to the working directory when it lies below it (shorter messages), else as it
    is."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


def check_mirror(ref_mirror: Path | None) -> None:
    """A PlanError when --ref-mirror names no usable mirror."""
    if ref_mirror is not None:
        try:
            MirrorRetriever.open(ref_mirror)
        except MirrorConfigError as exc:
            raise PlanError(str(exc), "--ref-mirror") from None


def _cacheable(path: Path) -> bool:
    """Whether a spec is a regular file within the size limit (a FIFO, a device or a huge file is
    left to the conversion, which reports it without reading it; the cache would read it to make its
    key)."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(status.st_mode) and status.st_size <= MAX_FILE_BYTES


def _refuse_unusable_output_dir(directory: Path, setting: str) -> None:
    """A PlanError when the output directory is a file, or lies below one (nothing could be
    written)."""
    for path in (directory, *directory.absolute().parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise PlanError(
                    f"{setting}: the output directory {directory} cannot be made: "
                    f"{path} exists and is not a directory"
                )
            return


def _pre_commit_inputs(
    inputs: list[Input], roots: list[Path], tree_roots: list[Path]
) -> list[Input]:
    """Hook mode: the staged specs; when other YAML/JSON files are staged (models a spec may refer
    to), every configured spec as well, since any of them may depend on those files."""
    specs = [i for i in inputs if i.path.is_file() and looks_like_spec(i.path)]
    for staged in inputs:  # a staged overlay: its spec's collection may be stale
        spec = spec_of_overlay(staged.path)
        if spec is not None and all(s.path.absolute() != spec.absolute() for s in specs):
            specs.append(Input(spec, staged.base))
    if len(specs) < len(inputs) and roots:
        configured, _ = discover([str(r) for r in roots], tree_roots)
        known = {s.path.absolute() for s in specs}
        specs += [c for c in configured if c.path.absolute() not in known]
    return specs


def _refuse_clashes(jobs: list[Job]) -> None:
    targets: dict[Path, list[str]] = {}
    for job in jobs:
        if job.target is not None:
            targets.setdefault(job.target.absolute(), []).append(str(job.spec))
    clashes = {target: specs for target, specs in targets.items() if len(specs) > 1}
    if clashes:
        described = "; ".join(
            f"{' and '.join(specs)} -> {target}" for target, specs in sorted(clashes.items())
        )
        raise PlanError(
            f"several inputs would write the same output file: {described} (use "
            "--naming '{name}.postman_collection.json', or convert them into different -o "
            "directories)"
        )
