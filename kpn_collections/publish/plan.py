"""Planning a publish: the specs a `publish` run takes, each with its key in the publish state, its
settings and the collection file `convert` writes for it (`plan_publish`); what is wrong with the
command line, the settings file or the state file is a PlanError, which the CLI reports as a usage
error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..batch.discover import Input, NamingError, discover, output_path
from ..batch.plan import NO_SPECS, PlanError, settings_from, tree_root
from ..config import DEFAULT_NAMING, ProjectConfig, repository_root
from . import PublishJob
from .state import DEFAULT_STATE_FILE, State, StateError, load_state


@dataclass(frozen=True)
class PublishPlan:
    jobs: list[PublishJob]
    state_path: Path
    state: State


def plan_publish(
    specs: Sequence[str],
    config: ProjectConfig,
    state_file: Path | None,
    say: Callable[[str], None],
) -> PublishPlan:
    """The jobs of a `publish` run and the state they update, or a PlanError; `say` is told of each
    SPECS argument that names no OpenAPI or Swagger document."""
    roots = [config.root / s for s in config.get("specs", [])]
    arguments = list(specs) or [str(r) for r in roots]
    if not arguments:
        raise PlanError(NO_SPECS)
    inputs, empty = discover(arguments, [tree_root(r, config.file) for r in roots])
    for argument in empty:
        say(f"{argument}: no OpenAPI or Swagger documents found")
    # keys and the default state file are relative to the project root: the settings file's
    # directory, else the repository's top (not the working directory, which would give other keys
    # from a subdirectory)
    root = config.root if config.file else repository_root(Path.cwd())
    state_path = state_file or config.get("publish-state") or root / DEFAULT_STATE_FILE
    try:
        state = load_state(state_path)
    except StateError as exc:
        raise PlanError(str(exc)) from None
    jobs = [
        PublishJob(
            spec.path,
            _state_key(spec.path, root),
            settings_from(config.for_spec(spec.path)),
            _collection_file(spec, config.get("output"), config.get("naming", DEFAULT_NAMING)),
        )
        for spec in inputs
    ]
    return PublishPlan(jobs, state_path, state)


def _collection_file(spec: Input, output: Path | None, naming: str) -> Path | None:
    """Where `convert` writes the spec's collection (for `publish --absorb`), None when the naming
    gives none."""
    try:
        return output_path(spec, output, naming)
    except NamingError:
        return None


def _state_key(spec: Path, root: Path) -> str:
    """A spec's key in the publish state: its path relative to the project root (POSIX), else as
    given."""
    try:
        return spec.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return spec.as_posix()
