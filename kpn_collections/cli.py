"""Command line: options -> Settings -> pipeline -> diagnostics printed -> exit code. Kept thin."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shlex
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from . import __version__, fast_paths
from .batch.discover import Input, output_path
from .batch.plan import (
    Options,
    PlanError,
    check_mirror,
    near,
    plan_conversion,
    settings_from,
)
from .batch.scheduler import (
    Interrupted,
    Terminated,
    raise_terminated,
    run_jobs,
    signals_held,
    stopped,
)
from .config import (
    DEFAULT_NAMING,
    ConfigError,
    ProjectConfig,
    find_config,
    load_config,
)
from .diagnostics import (
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Diagnostic,
    Severity,
    escaped,
)
from .refs.retrieve import host_problem
from .report import (
    Progress,
    publish_entry,
    publish_summary,
    publish_summary_text,
    report_bug,
    report_job,
    report_publish,
    say,
    summary,
    summary_text,
    write_stdout,
)
from .settings import (
    AUTH_MODES,
    FOLDER_MODES,
    SETTING_KEYS,
    SWAGGERHUB_HOST,
    TEST_MODES,
    AuthMode,
    Settings,
)
from .write import write_if_changed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kpn-collections")
def main() -> None:
    """Turn SwaggerHub OpenAPI exports into Postman collections that run."""
    problem = fast_paths.setting_problem()
    if problem is not None:
        raise click.UsageError(problem)


def entry() -> None:
    """The `kpn-collections` console script: the command group, with a last guard that turns an
    internal error anywhere (outside the per-spec jobs, which report their own) into a short bug
    report and exit code 3."""
    _tune_garbage_collector()
    # Python's regex parser warns about a spec's patterns (`[[a]`: "Possible nested set"); the
    # validate stage reports those as located `pattern-ambiguous` warnings, so the raw ones (from
    # whichever library compiles the pattern, in this process or a forked one) are kept off stderr
    warnings.filterwarnings("ignore", message=REGEX_PARSER_WARNINGS, category=FutureWarning)
    warnings.filterwarnings("ignore", message=REGEX_PARSER_WARNINGS, category=DeprecationWarning)
    try:
        main(prog_name="kpn-collections")
    except Exception:
        click.echo(
            f"kpn-collections {__version__}: internal error: this is a bug, please report it with"
            " the command line and input files"
            + ("" if "--debug" in sys.argv else " (run with --debug for the traceback)"),
            err=True,
        )
        if "--debug" in sys.argv:
            traceback.print_exc()
        sys.exit(EXIT_BUG)
    finally:
        gc.freeze()  # the run's garbage is left to the process's end (see _tune_garbage_collector)


REGEX_PARSER_WARNINGS = r"Possible (?:nested set|set \w+)|Flags not at the start|bad escape"
"""The messages of the warnings Python's regex parser gives (3.10 to 3.13)."""

GC_THRESHOLDS = (100_000, 50, 100)
"""Python's garbage collector thresholds for a run (the defaults are 700, 10, 10)."""


def _tune_garbage_collector() -> None:
    """A conversion makes millions of small containers that never form cycles (the document, the
    model, the collection) and keeps most of them to the end; with the default thresholds the
    collector walks them over and over (a fifth of the time on 10,000 operations, a tenth on
    GitHub's API description), for nothing. Collections still run, less often; what is loaded before
    the run is moved out of their way for good, and so is what is left when it ends: the exit's
    final collection would only free memory the process is about to give back (a tenth of a
    second on GitHub's). Exit handlers still run and streams are still flushed."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


F = Callable[..., None]


def _host_option(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> str | None:
    problem = host_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


def _config(config_file: Path | None) -> ProjectConfig:
    """The settings file given with --config, else the one found from here; a usage error when it
    cannot be read."""
    try:
        return load_config(config_file) if config_file else find_config()
    except ConfigError as exc:
        raise click.UsageError(escaped(str(exc))) from None


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """A PlanError as click's usage error: about a setting's value, or the command as a whole."""
    try:
        yield
    except PlanError as exc:
        if exc.setting is None:
            raise click.UsageError(escaped(str(exc))) from None
        raise click.BadParameter(escaped(str(exc)), param_hint=exc.setting) from None


def ref_options(command: F) -> F:
    """--ref-root, --ref-mirror and --allow-remote-refs: how `$ref`s to other files and URLs are
    followed."""
    for option in reversed(
        [
            click.option(
                "--ref-root",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help="Directory that referenced files must lie in [default: the spec's directory].",
            ),
            click.option(
                "--ref-mirror",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help=(
                    "Directory with local copies of remote $ref targets, as DIR/<host>/<path>.yaml "
                    "(plus DIR/prefixes.yaml for other URL layouts)."
                ),
            ),
            click.option(
                "--allow-remote-refs",
                is_flag=True,
                help=(
                    "Fetch remote $ref targets missing from the mirror over HTTPS "
                    "(sends SWAGGERHUB_API_KEY to the SwaggerHub host when set)."
                ),
            ),
            click.option(
                "--allow-private-hosts",
                is_flag=True,
                default=None,
                help="Let remote fetches reach loopback, private and link-local addresses.",
            ),
            click.option(
                "--swaggerhub-host",
                callback=_host_option,
                help=(
                    "The SwaggerHub registry host SWAGGERHUB_API_KEY is sent to (On-Premise).  "
                    "[default: api.swaggerhub.com]"
                ),
            ),
        ]
    ):
        command = option(command)
    return command


@main.command()
@click.argument("specs", nargs=-1)
@click.option(
    "-o",
    "--output",
    help=(
        "Directory for the collections (a directory or glob argument's tree is mirrored in it), "
        "or '-' to print one collection to stdout.  [default: beside each spec]"
    ),
)
@click.option(
    "--naming",
    help=(
        "Output file name; {stem} and {name} are the spec's.  "
        "[default: {stem}.postman_collection.json]"
    ),
)
@click.option(
    "--folders",
    type=click.Choice(FOLDER_MODES),
    help=(
        "Group requests in folders by first tag, by first path segment, or not at all.  [default:"
        " tags]"
    ),
)
@click.option(
    "--base-url", help="Value of the `baseUrl` variable, instead of the definition's first server."
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory with templates that replace the packaged ones of the same name.",
)
@click.option(
    "--token-url", help="Token endpoint, instead of the definition's own or KPN's default."
)
@click.option(
    "--auth-mode",
    type=click.Choice(AUTH_MODES),
    help="How the collection gets its bearer token (see the README).  [default: auto]",
)
@click.option(
    "--tests",
    type=click.Choice(TEST_MODES),
    help=(
        "Tests added to every request: none; smoke (documented status and content type); contract "
        "(also the body against the response schema, and required headers).  [default: contract]"
    ),
)
@click.option(
    "--strict/--no-strict",
    default=None,
    help="Fail on any problem in the definition, warnings included.",
)
@click.option(
    "--check-output/--no-check-output",
    default=None,
    help=(
        "Validate every collection against Postman's v2.1.0 JSON Schema before writing it.  "
        "[default: on]"
    ),
)
@click.option(
    "--check",
    is_flag=True,
    help=(
        "Write nothing; exit 1 when a collection is missing or differs from what would be written."
    ),
)
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), help="Processes to convert with.  [default: CPUs]"
)
@click.option(
    "--cache/--no-cache", default=None, help="Reuse results for unchanged inputs.  [default: on]"
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where results are cached (safe to delete).  [default: ~/.cache/kpn-collections]",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file to use instead of looking for .kpn-collections.yaml or pyproject.toml.",
)
@click.option(
    "--pre-commit",
    "pre_commit",
    is_flag=True,
    help="Hook mode: skip files that are not specs, and fail when a collection was written.",
)
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How results and problems are reported on stderr.",
)
@click.option("-q", "--quiet", is_flag=True, help="Report errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
@ref_options
def convert(
    specs: Sequence[str],
    output: str | None,
    naming: str | None,
    folders: str | None,
    base_url: str | None,
    templates_dir: Path | None,
    token_url: str | None,
    auth_mode: str | None,
    tests: str | None,
    strict: bool | None,
    check_output: bool | None,
    check: bool,
    jobs: int | None,
    cache: bool | None,
    cache_dir: Path | None,
    config_file: Path | None,
    pre_commit: bool,
    report_format: str,
    quiet: bool,
    verbose: bool,
    debug: bool,
    ref_root: Path | None,
    ref_mirror: Path | None,
    allow_remote_refs: bool,
    allow_private_hosts: bool | None,
    swaggerhub_host: str | None,
) -> None:
    """Convert SPECS (files, directories, globs; SwaggerHub exports in YAML or JSON) into Postman
    v2.1 collections. Without SPECS, converts the `specs` of the settings file."""
    config = _config(config_file)
    options = click.get_current_context().params  # named as the Settings fields
    given = {key: options.get(name) for key, (name, _) in SETTING_KEYS.items()}
    # a flag: absent leaves the settings file's value
    given["allow-remote-refs"] = allow_remote_refs or None
    wanted = Options(
        specs,
        {key: value for key, value in given.items() if value is not None},
        output=output,
        naming=naming,
        cache=cache,
        cache_dir=cache_dir,
        jobs=jobs,
        check=check,
        pre_commit=pre_commit,
    )
    with _usage_errors():
        plan = plan_conversion(wanted, config, say)
    planned = plan.jobs
    started = time.perf_counter()
    results = []
    # not the main thread (an embedding program): its own handling stays
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, raise_terminated)
    shown = not quiet and report_format == "text" and sys.stderr.isatty()
    progress = Progress(len(planned), enabled=shown)
    batch = run_jobs(planned, plan.workers, progress.advance)
    current = None  # a result received and not reported yet
    try:
        with progress:
            for current in batch:
                with signals_held():  # a result is reported whole, and counted
                    progress.clear()
                    if current.text is not None:
                        write_stdout(current.text)
                    results.append(report_job(current, quiet, verbose, report_format, debug))
                    current = None
    except KeyboardInterrupt as interrupt:
        stop = stopped(batch, interrupt)  # the jobs still running end, and are counted
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # jobs that ended but were not reported yet (a job stopped by SIGTERM wrote nothing)
        late = [current] if current is not None else []
        if isinstance(stop, Interrupted):
            late += [r for r in stop.finished if r.outcome != "bug"]
        results += [report_job(result, quiet, verbose, report_format, debug) for result in late]
        wrote = sum(1 for result, _ in results if result.outcome == "written")
        click.echo(
            f"interrupted after {len(results)} of {len(planned)} spec(s), {wrote} collection(s)"
            " written; every collection on disk is complete (each is written whole or not at all)",
            err=True,
        )
        terminated = isinstance(stop, Terminated) or isinstance(stop.__cause__, Terminated)
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    finally:
        batch.close()  # whatever ended the loop, the batch's workers end with it
    totals = summary(results_of := [r for r, _ in results], check, time.perf_counter() - started)
    written = [r.target for r in results_of if r.outcome == "written" and r.target]
    if report_format == "json":
        click.echo(
            json.dumps(
                {"files": [entry for _, entry in results], "summary": totals},
                indent=2,
                ensure_ascii=False,
            ),
            err=True,
        )
    elif (not quiet and len(results_of) > 1) or check:
        click.echo(summary_text(totals, check), err=True)
    exit_code = EXIT_OK
    if any(r.outcome == "bug" for r in results_of):
        exit_code = EXIT_BUG
    elif not all(r.ok for r in results_of):
        exit_code = EXIT_FAILED
    if pre_commit and written:
        say("kpn-collections wrote " + ", ".join(written) + "; stage them and commit again:")
        say("  git add " + " ".join(shlex.quote(w) for w in written))
        exit_code = max(exit_code, EXIT_FAILED)
    sys.exit(exit_code)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", required=True, help="File for the patched definition, or '-' for stdout."
)
@click.option(
    "--token-url", help="Token endpoint, instead of the definition's own or KPN's default."
)
@click.option(
    "--auth-mode",
    type=click.Choice(AUTH_MODES),
    default="auto",
    show_default=True,
    help="How tokens are obtained (auto: see the README).",
)
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
@ref_options
def inject(
    spec: Path,
    output: str,
    token_url: str | None,
    auth_mode: AuthMode,
    verbose: bool,
    debug: bool,
    ref_root: Path | None,
    ref_mirror: Path | None,
    allow_remote_refs: bool,
    allow_private_hosts: bool | None,
    swaggerhub_host: str | None,
) -> None:
    """Write SPEC with a working OAuth2 client-credentials scheme, for upload back to SwaggerHub.

    External `$ref`s are followed to understand the API, and written back as they were."""
    with _usage_errors():
        check_mirror(ref_mirror)
    settings = Settings(
        auth_mode=auth_mode,
        token_url=token_url,
        ref_root=ref_root,
        ref_mirror=ref_mirror,
        allow_remote_refs=allow_remote_refs,
        allow_private_hosts=bool(allow_private_hosts),
        swaggerhub_host=swaggerhub_host or SWAGGERHUB_HOST,
    )
    from .pipeline import inject_file

    try:
        result = inject_file(spec, settings)
    except Exception:  # a bug: say so, exit 3
        report_bug(spec, debug)
        sys.exit(EXIT_BUG)
    _write_text_result(spec, output, result.text, result.diagnostics, verbose)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    help="File for the bundled definition (.json for JSON, else YAML), or '-' for stdout.",
)
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
@ref_options
def bundle(
    spec: Path,
    output: str,
    verbose: bool,
    debug: bool,
    ref_root: Path | None,
    ref_mirror: Path | None,
    allow_remote_refs: bool,
    allow_private_hosts: bool | None,
    swaggerhub_host: str | None,
) -> None:
    """Write SPEC as one self-contained document: every $ref to another file or URL bundled in.

    Referenced definitions go into the document's components (definitions/parameters/responses in
    Swagger 2.0) under their own names, qualified when a name is taken; the refs point there."""
    with _usage_errors():
        check_mirror(ref_mirror)
    settings = Settings(
        ref_root=ref_root,
        ref_mirror=ref_mirror,
        allow_remote_refs=allow_remote_refs,
        allow_private_hosts=bool(allow_private_hosts),
        swaggerhub_host=swaggerhub_host or SWAGGERHUB_HOST,
    )
    output_format = (
        None if output == "-" else ("json" if output.lower().endswith(".json") else "yaml")
    )
    from .pipeline import bundle_file

    try:
        result = bundle_file(spec, settings, output_format=output_format)
    except Exception:  # a bug: say so, exit 3
        report_bug(spec, debug)
        sys.exit(EXIT_BUG)
    _write_text_result(spec, output, result.text, result.diagnostics, verbose)


def _write_text_result(
    spec: Path, output: str, text: str | None, diagnostics: Sequence[Diagnostic], verbose: bool
) -> None:
    for diagnostic in diagnostics:
        if diagnostic.severity is not Severity.INFO or verbose:
            click.echo(diagnostic.format(), err=True)
    if text is None:
        say(f"{spec}: FAILED; nothing written")
        sys.exit(EXIT_FAILED)
    if output == "-":
        write_stdout(text)
        sys.exit(EXIT_OK)
    try:
        written = write_if_changed(Path(output), text)
    except OSError as exc:  # a read-only or full disk, a directory or a device in the way
        say(
            f"{output}: error [output-failed]: cannot write {exc.filename or output}:"
            f" {exc.strerror or exc}; nothing written"
        )
        sys.exit(EXIT_FAILED)
    say(f"{spec}: {'wrote' if written else 'unchanged'} {output}")
    sys.exit(EXIT_OK)


@main.command()
@click.argument("specs", nargs=-1)
@click.option("--workspace", required=True, help="ID of the Postman workspace to publish to.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "The publish state file (commit it).  [default: .kpn-collections-publish.json in the"
        " project root]"
    ),
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would change in Postman; call no write endpoint."
)
@click.option(
    "--force", is_flag=True, help="Overwrite collections edited in Postman, listing the edits lost."
)
@click.option(
    "--absorb",
    is_flag=True,
    help=(
        "Keep edits made in Postman in each spec's overlay (commit it), then "
        "update the collection with them."
    ),
)
@click.option(
    "--postman-api-url",
    envvar="POSTMAN_API_URL",
    callback=lambda c, p, v: _api_url(v),
    help=(
        "Base URL of the Postman API (env POSTMAN_API_URL).  [default: https://api.getpostman.com]"
    ),
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for one answer from Postman.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds the whole run may wait on rate limits and retries.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file to use instead of looking for .kpn-collections.yaml or pyproject.toml.",
)
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How results and problems are reported on stderr.",
)
@click.option("-q", "--quiet", is_flag=True, help="Report errors only.")
@click.option("-v", "--verbose", is_flag=True, help="List every request added, removed or changed.")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
def publish(
    specs: Sequence[str],
    workspace: str,
    state_file: Path | None,
    dry_run: bool,
    force: bool,
    absorb: bool,
    postman_api_url: str,
    timeout: float,
    max_wait: float,
    config_file: Path | None,
    report_format: str,
    quiet: bool,
    verbose: bool,
    debug: bool,
) -> None:
    """Publish the collections of SPECS (files, directories, globs; default: the settings file's
    `specs`) to a Postman workspace, with the API key from the environment variable POSTMAN_API_KEY.
    The first publish creates each collection; later ones update it in place (request ids kept), and
    refuse to overwrite edits made in Postman unless --force (or, with --absorb, keep them in the
    spec's overlay)."""
    from .publish import NoApiKey, PostmanApi, PublishAborted
    from .publish import publish as run_publish
    from .publish.plan import plan_publish

    if absorb and force:
        raise click.UsageError(
            "--absorb keeps the edits made in Postman, --force overwrites them: give one"
        )
    config = _config(config_file)
    with _usage_errors():
        plan = plan_publish(specs, config, state_file, say)

    def make_api() -> PostmanApi:
        api_key = os.environ.get("POSTMAN_API_KEY", "").strip()
        if not api_key:
            raise NoApiKey(
                "set the environment variable POSTMAN_API_KEY to a Postman API key (in CI: a secret"
                " of the main branch's job); it is never read from a file"
            )
        return PostmanApi(postman_api_url, api_key, timeout=timeout, max_wait=max_wait)

    started = time.perf_counter()
    results = []
    # not the main thread (an embedding program): its own handling stays
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        for result in run_publish(
            plan.jobs,
            workspace=workspace,
            state=plan.state,
            make_api=make_api,
            dry_run=dry_run,
            force=force,
            absorb=absorb,
        ):
            results.append(result)
            if report_format == "text":
                report_publish(result, quiet, verbose, debug)
    except NoApiKey as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt as stop:
        say(f"publish stopped; {plan.state_path} holds every collection published until then")
        sys.exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED)
    except PublishAborted as exc:
        say(f"error [publish-workspace]: {exc}; nothing more was published")
        sys.exit(EXIT_FAILED)
    totals = publish_summary(results, dry_run, time.perf_counter() - started)
    if report_format == "json":
        click.echo(
            json.dumps(
                {"collections": [publish_entry(r, verbose) for r in results], "summary": totals},
                indent=2,
                ensure_ascii=False,
            ),
            err=True,
        )
    elif not quiet and len(results) > 1:
        say(publish_summary_text(totals))
    if totals["bug"]:
        sys.exit(EXIT_BUG)
    sys.exit(EXIT_FAILED if any(not r.ok for r in results) else EXIT_OK)


def _api_url(value: str | None) -> str:
    from urllib.parse import urlsplit

    url = (value or "https://api.getpostman.com").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise click.BadParameter(
            escaped(f"{url!r} is not an http(s) base URL"), param_hint="--postman-api-url"
        )
    if parts.username or parts.password:
        raise click.BadParameter("must not carry credentials", param_hint="--postman-api-url")
    return url


@main.command()
@click.argument("edited", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "spec", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--base",
    "base_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "The collection as generated before the edits (e.g. from git history).  "
        "[default: the committed output file of SPEC]"
    ),
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file to use instead of looking for .kpn-collections.yaml or pyproject.toml.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
def absorb(
    edited: Path, spec: Path | None, base_file: Path | None, config_file: Path | None, debug: bool
) -> None:
    """Keep the edits testers made to EDITED (a collection exported from Postman, or the committed
    file edited) in SPEC's overlay, so that every later generation has them. SPEC defaults to the
    spec beside EDITED with the same name."""
    from .absorb import AbsorbError, absorb_file, committed_text

    config = _config(config_file)
    spec = spec or _spec_beside(edited)
    settings = settings_from(config.for_spec(spec))
    base_text = None
    if base_file is None:
        base_file = near(
            output_path(Input(spec), config.get("output"), config.get("naming", DEFAULT_NAMING))
        )
        if not base_file.exists() or base_file.absolute() == edited.absolute():
            base_text = committed_text(base_file)
            if base_text is None:
                raise click.UsageError(
                    escaped(
                        f"no base: {base_file} is not committed in git; give the collection "
                        "as generated before the edits with --base FILE"
                    )
                )
    try:
        result = absorb_file(edited, spec, settings, base_file, base_text=base_text)
    except AbsorbError as exc:
        say(f"{exc}")
        sys.exit(EXIT_FAILED)
    except Exception:  # a bug: say so, exit 3
        report_bug(spec, debug)
        sys.exit(EXIT_BUG)
    for diagnostic in result.problems:
        if diagnostic.severity is not Severity.INFO:
            click.echo(diagnostic.format(), err=True)
    if result.failed:
        say(f"{spec}: FAILED; {result.overlay_path} not written")
        sys.exit(EXIT_FAILED)
    if result.text is None:
        say(f"{edited}: nothing new to absorb; {result.overlay_path} unchanged")
        sys.exit(EXIT_OK)
    try:
        write_if_changed(result.overlay_path, result.text)
    except OSError as exc:
        say(f"{result.overlay_path}: error [output-failed]: cannot write it: {exc.strerror or exc}")
        sys.exit(EXIT_FAILED)
    say(
        f"{edited}: wrote {result.overlay_path}; commit it, then regenerate: kpn-collections"
        f" convert {spec}"
    )
    sys.exit(EXIT_OK)


def _spec_beside(edited: Path) -> Path:
    stem = edited.name.split(".postman_collection.json")[0].split(".json")[0]
    for suffix in (".yaml", ".yml", ".json"):
        candidate = edited.with_name(stem + suffix)
        if candidate.is_file() and candidate != edited:
            return candidate
    raise click.UsageError(
        escaped(f"no spec named {stem}.yaml, .yml or .json beside {edited}: give SPEC")
    )
