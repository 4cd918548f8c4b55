"""Command line: options -> Settings -> pipeline -> diagnostics printed -> exit code. Kept thin."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from . import __version__
from .diagnostics import EXIT_BUG, EXIT_FAILED, EXIT_OK, Diagnostic, Severity
from .pipeline import ConversionResult, bundle_file, convert_file, inject_file
from .retrieve import MirrorConfigError, MirrorRetriever
from .settings import AUTH_MODES, FOLDER_MODES, Settings
from .write import dumps, write_if_changed

OUTPUT_SUFFIX = ".postman_collection.json"


def output_name(spec: Path) -> str:
    """`kpn-sms-openapi.yml` -> `kpn-sms-openapi.postman_collection.json`."""
    return spec.stem + OUTPUT_SUFFIX


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kpn-collections")
def main() -> None:
    """Turn SwaggerHub OpenAPI exports into Postman collections that run."""


F = Callable[..., None]


def ref_options(command: F) -> F:
    """--ref-root, --ref-mirror and --allow-remote-refs: how `$ref`s to other files and URLs are followed."""
    for option in reversed([
        click.option("--ref-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="Directory that referenced files must lie in [default: the spec's directory]."),
        click.option("--ref-mirror", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="Directory with local copies of remote $ref targets, as DIR/<host>/<path>.yaml "
                          "(plus DIR/prefixes.yaml for other URL layouts)."),
        click.option("--allow-remote-refs", is_flag=True,
                     help="Fetch remote $ref targets missing from the mirror over HTTPS "
                          "(sends SWAGGERHUB_API_KEY when set)."),
    ]):
        command = option(command)
    return command


def _check_mirror(ref_mirror: Path | None) -> None:
    if ref_mirror is not None:
        try:
            MirrorRetriever.open(ref_mirror)
        except MirrorConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--ref-mirror") from None


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=".", show_default=True,
              help="Directory for the collections, or '-' to print one collection to stdout.")
@click.option("--folders", type=click.Choice(FOLDER_MODES), default="tags", show_default=True,
              help="Group requests in folders by first tag, by first path segment, or not at all.")
@click.option("--base-url", help="Value of the `baseUrl` variable, instead of the definition's first server.")
@click.option("--templates", "templates_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory with templates that replace the packaged ones of the same name.")
@click.option("--token-url", help="Token endpoint, instead of the definition's own or KPN's default.")
@click.option("--auth-mode", type=click.Choice(AUTH_MODES), default="auto", show_default=True,
              help="How the collection gets its bearer token (auto: see the README).")
@click.option("--strict", is_flag=True, help="Fail on any problem in the definition, warnings included.")
@click.option("--check-output/--no-check-output", default=True, show_default=True,
              help="Validate every collection against Postman's v2.1.0 JSON Schema before writing it.")
@click.option("--format", "report_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="How problems are reported on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Report errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
@ref_options
def convert(specs: Sequence[Path], output: str, folders: str, base_url: str | None, templates_dir: Path | None,
            token_url: str | None, auth_mode: str, strict: bool, check_output: bool, report_format: str,
            quiet: bool, verbose: bool, debug: bool, ref_root: Path | None, ref_mirror: Path | None,
            allow_remote_refs: bool) -> None:
    """Convert SPECS (SwaggerHub exports, YAML or JSON) into Postman v2.1 collections."""
    if output == "-" and len(specs) != 1:
        raise click.UsageError("-o - (stdout) takes exactly one SPEC")
    _check_mirror(ref_mirror)
    settings = Settings(folders=folders, base_url=base_url, templates_dir=templates_dir, strict=strict,
                        check_output=check_output, auth_mode=auth_mode, token_url=token_url, ref_root=ref_root,
                        ref_mirror=ref_mirror, allow_remote_refs=allow_remote_refs)
    exit_code = EXIT_OK
    reports = []
    names = [output_name(spec) for spec in specs]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes and output != "-":
        raise click.UsageError("several inputs would write the same output file: " + ", ".join(clashes)
                               + " (convert them in separate runs, into different -o directories)")
    for spec in specs:
        try:
            result = convert_file(spec, settings)
        except Exception:
            _report_bug(spec, debug)
            exit_code = max(exit_code, EXIT_BUG)
            continue
        outcome = "failed"
        if result.succeeded(strict=strict):
            assert result.collection is not None
            text = dumps(result.collection)
            if output == "-":
                sys.stdout.write(text)
                outcome = "wrote <stdout>"
            else:
                target = Path(output) / output_name(spec)
                outcome = ("wrote " if write_if_changed(target, text) else "unchanged ") + str(target)
        else:
            exit_code = max(exit_code, EXIT_FAILED)
        reports.append(_report(result, outcome, strict, quiet, verbose, report_format))
    if report_format == "json":
        click.echo(json.dumps({"files": reports}, indent=2, ensure_ascii=False), err=True)
    sys.exit(exit_code)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, help="File for the patched definition, or '-' for stdout.")
@click.option("--token-url", help="Token endpoint, instead of the definition's own or KPN's default.")
@click.option("--auth-mode", type=click.Choice(AUTH_MODES), default="auto", show_default=True,
              help="How tokens are obtained (auto: see the README).")
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@ref_options
def inject(spec: Path, output: str, token_url: str | None, auth_mode: str, verbose: bool, ref_root: Path | None,
           ref_mirror: Path | None, allow_remote_refs: bool) -> None:
    """Write SPEC with a working OAuth2 client-credentials scheme, for upload back to SwaggerHub.

    External `$ref`s are followed to understand the API, and written back as they were."""
    _check_mirror(ref_mirror)
    settings = Settings(auth_mode=auth_mode, token_url=token_url, ref_root=ref_root, ref_mirror=ref_mirror,
                        allow_remote_refs=allow_remote_refs)
    try:
        result = inject_file(spec, settings)
    except Exception:  # a bug: say so, exit 3
        _report_bug(spec, debug=False)
        sys.exit(EXIT_BUG)
    _write_text_result(spec, output, result.text, result.diagnostics, verbose)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True,
              help="File for the bundled definition (.json for JSON, else YAML), or '-' for stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Report informational notes too.")
@ref_options
def bundle(spec: Path, output: str, verbose: bool, ref_root: Path | None, ref_mirror: Path | None,
           allow_remote_refs: bool) -> None:
    """Write SPEC as one self-contained document: every $ref to another file or URL bundled in.

    Referenced definitions go into the document's components (definitions/parameters/responses in
    Swagger 2.0) under their own names, qualified when a name is taken; the refs point there."""
    _check_mirror(ref_mirror)
    settings = Settings(ref_root=ref_root, ref_mirror=ref_mirror, allow_remote_refs=allow_remote_refs)
    output_format = None if output == "-" else ("json" if output.lower().endswith(".json") else "yaml")
    try:
        result = bundle_file(spec, settings, output_format=output_format)
    except Exception:  # a bug: say so, exit 3
        _report_bug(spec, debug=False)
        sys.exit(EXIT_BUG)
    _write_text_result(spec, output, result.text, result.diagnostics, verbose)


def _write_text_result(spec: Path, output: str, text: str | None, diagnostics: Sequence[Diagnostic],
                       verbose: bool) -> None:
    for diagnostic in diagnostics:
        if diagnostic.severity is not Severity.INFO or verbose:
            click.echo(diagnostic.format(), err=True)
    if text is None:
        click.echo(f"{spec}: FAILED; nothing written", err=True)
        sys.exit(EXIT_FAILED)
    if output == "-":
        sys.stdout.write(text)
    else:
        written = write_if_changed(Path(output), text)
        click.echo(f"{spec}: {'wrote' if written else 'unchanged'} {output}", err=True)
    sys.exit(EXIT_OK)


def _report(result: ConversionResult, outcome: str, strict: bool, quiet: bool, verbose: bool,
            report_format: str) -> dict[str, object]:
    shown = [d for d in result.diagnostics
             if d.severity is Severity.ERROR
             or (d.severity is Severity.WARNING and not quiet)
             or (d.severity is Severity.INFO and verbose)]
    ok = result.succeeded(strict=strict)
    if report_format == "text":
        for diagnostic in shown:
            click.echo(diagnostic.format(), err=True)
        if not ok:
            reason = "warnings are failures with --strict" if result.collection is not None else (
                f"{len(result.errors)} error(s)")
            click.echo(f"{result.source}: FAILED ({reason}); nothing written", err=True)
        elif not quiet:
            click.echo(f"{result.source}: {outcome} ({len(result.warnings)} warning(s))", err=True)
    return {
        "source": result.source,
        "ok": ok,
        "outcome": outcome,
        "diagnostics": [d.as_dict() for d in shown],
    }


def _report_bug(spec: Path, debug: bool) -> None:
    click.echo(f"{spec}: internal error in kpn-collections {__version__}: this is a bug, please report it "
               "with the input file" + ("" if debug else " (run with --debug for the traceback)"), err=True)
    if debug:
        traceback.print_exc()
