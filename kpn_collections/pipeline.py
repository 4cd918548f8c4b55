"""The conversion pipeline, stage by stage: load -> bundle external refs -> resolve -> validate ->
normalise -> inject auth -> build collection (rendering text with Jinja2) -> check collection.
Writing is the caller's job."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fast_paths
from .auth.inject import inject_auth, patch_document, plan_auth
from .build.check import check_collection
from .build.collection import build_collection
from .build.one_of_branches import check_one_of_branches
from .build.render import Renderer, TemplateProblem
from .credentials import find_in_collection
from .diagnostics import Diagnostic, Diagnostics, Severity, pointer_join
from .load.document import LoadError, SourceDocument, load_document
from .model import SpecVersion, detect_version
from .normalise import normalise
from .overlay import Operation, apply_overlay, load_overlay, located_in, overlay_for
from .refs.bundle import BundleResult, bundle
from .refs.resolve import RefResolver, check_references
from .refs.retrieve import (
    Dependency,
    MirrorConfigError,
    RemoteFetcher,
    RetrievalError,
    Retrieved,
    Retriever,
    build_retriever,
)
from .settings import Settings
from .validate import parallel
from .write import dump_document


@dataclass(frozen=True)
class ConversionResult:
    """A collection (None when conversion failed) and every problem found on the way."""

    source: str
    collection: dict[str, Any] | None
    diagnostics: tuple[Diagnostic, ...]
    dependencies: tuple[Path, ...] = ()  # local files read for `$ref`s (mirror files included)
    fetched_remote: bool = False  # whether a referenced document came over the network
    consulted: tuple[
        Dependency, ...
    ] = ()  # every local path the result depends on (see retrieve.Dependency)
    operations: tuple[
        Operation, ...
    ] = ()  # the spec's operations, for overlays (overlay.py, absorb.py)

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that are errors."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The diagnostics that are warnings."""
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def succeeded(self, *, strict: bool = False) -> bool:
        """True when a collection was produced (and, if strict, without warnings)."""
        return self.collection is not None and not (strict and self.warnings)


def prepare(settings: Settings) -> None:
    """Load and build, once, what every conversion with these settings uses: the validators and
    schema checks, the Postman schema check, the compiled templates. A batch calls this before
    forking its workers, which then share all of it instead of each building (and holding) its own
    copy."""
    from .build import render
    from .build.check import postman_schema_check
    from .validate import spec as validate_spec

    validate_spec.prepare()
    if settings.check_output:
        postman_schema_check()
    render.prepare(settings.templates_dir)


def convert_file(
    path: str | Path,
    settings: Settings | None = None,
    *,
    display_name: str | None = None,
    retriever: Retriever | None = None,
    fetch_remote: RemoteFetcher | None = None,
    validate_beside: bool = False,
) -> ConversionResult:
    """Convert one SwaggerHub export on disk.

    `$ref`s to other files and URLs are followed through `retriever` (default: the one the settings
    describe, see retrieve.build_retriever; `fetch_remote` replaces its HTTPS fetcher).
    """
    settings = settings or Settings()
    name = display_name or str(path)
    if settings.overlay is None:
        settings = dataclasses.replace(settings, overlay=overlay_for(Path(path), settings))
    try:
        source = load_document(path, display_name=name)
    except LoadError as exc:
        return ConversionResult(name, None, (exc.diagnostic,))
    recorder = _Recorder(retriever or _retriever(settings, Path(path), name, fetch_remote))
    result = convert_source(
        source,
        settings,
        base_uri=_file_uri(path),
        retriever=recorder,
        validate_beside=validate_beside,
    )
    local = tuple(r.path for r in recorder.retrieved if r.path is not None)
    return dataclasses.replace(
        result,
        dependencies=local,
        consulted=tuple(d for r in recorder.retrieved for d in r.consulted),
        fetched_remote=any(r.path is None for r in recorder.retrieved),
    )


def _not_json_data(document: Any) -> tuple[str, str] | None:
    """(pointer, problem) for the first thing no JSON document holds, or None."""
    if not isinstance(document, dict):
        return "", f"the document is a {type(document).__name__}, not a mapping"
    stack: list[tuple[Any, str, frozenset[int]]] = [(document, "", frozenset())]
    while stack:
        value, pointer, ancestors = stack.pop()
        if isinstance(value, (dict, list)):
            if id(value) in ancestors:
                return pointer, "the data contains itself (a cycle); JSON and YAML files cannot"
            inside = ancestors | {id(value)}
            if isinstance(value, dict):
                for key, child in value.items():
                    if not isinstance(key, str):
                        return pointer, f"the key {key!r} is not a string"
                    stack.append((child, pointer + pointer_join(key), inside))
            else:
                stack.extend(
                    (child, pointer + pointer_join(i), inside) for i, child in enumerate(value)
                )
    return None


@dataclass
class _Recorder:
    """Passes retrievals through, remembering what was read (for the batch cache)."""

    inner: Retriever
    retrieved: list[Retrieved] = dataclasses.field(default_factory=list)

    def __call__(self, uri: str) -> Retrieved:
        found = self.inner(uri)
        self.retrieved.append(found)
        return found


def convert_document(
    document: dict[str, Any],
    settings: Settings | None = None,
    *,
    source: str = "<document>",
    retriever: Retriever | None = None,
) -> ConversionResult:
    """Convert an already-parsed API definition (a dict as from json.load); relative refs are read
    from the current directory. Data a YAML or JSON file cannot hold (a dict that contains itself,
    non-string keys) is a `not-json-data` error."""
    problem = _not_json_data(document)
    if problem is not None:
        diagnostic = Diagnostic(
            Severity.ERROR,
            "not-json-data",
            problem[1],
            file=source,
            pointer=problem[0],
            hint="pass data as json.load or yaml.safe_load with string keys would give it",
        )
        return ConversionResult(source, None, (diagnostic,))
    return convert_source(
        SourceDocument(source, document, "", "json", _compose_failed=True),
        settings,
        retriever=retriever,
    )


def convert_source(
    source: SourceDocument,
    settings: Settings | None = None,
    *,
    base_uri: str | None = None,
    retriever: Retriever | None = None,
    validate_beside: bool = False,
) -> ConversionResult:
    """Run every stage on a loaded document; `validate_beside`: validate a big one in a second
    process while this one builds (see parallel.py), with the same outcome."""
    settings = settings or Settings()
    diagnostics = Diagnostics(file=source.path)
    base_uri = base_uri or (Path.cwd() / Path(source.path).name).as_uri()
    retriever = retriever or _retriever(settings, Path(source.path), source.path, None)
    bundled = None
    collection = None
    operations: list[Operation] = []
    version = detect_version(source.data, diagnostics)
    if version is not None:
        bundled = bundle(source, version, base_uri, retriever, diagnostics)
        if not diagnostics.has_errors:
            beside = (
                validate_beside
                and fast_paths.enabled("validate-beside")
                and len(source.text) >= parallel.MIN_SOURCE_CHARACTERS
            )
            collection = _run_stages(
                bundled.document,
                version,
                source.path,
                settings,
                diagnostics,
                validate_beside=beside,
                operations=operations,
                locate=functools.partial(_locate_if_json, source, bundled),
            )
    if diagnostics.has_errors:
        collection = None
    return ConversionResult(
        source.path,
        collection,
        _located(source, bundled, diagnostics),
        operations=tuple(operations),
    )


def _run_stages(
    document: dict[str, Any],
    version: SpecVersion,
    source_path: str,
    settings: Settings,
    diagnostics: Diagnostics,
    *,
    validate_beside: bool = False,
    operations: list[Operation] | None = None,
    locate: Callable[[Diagnostic], Diagnostic] = lambda diagnostic: diagnostic,
) -> dict[str, Any] | None:
    resolver = RefResolver(document)
    check_references(document, resolver, diagnostics)
    if diagnostics.has_errors:
        return None
    one_of_at = None  # where the `oneOf` check's findings go, once normalising is done
    abandoned = False
    if validate_beside:

        def one_of_findings() -> list[Diagnostic]:  # in the child, after validating
            found = Diagnostics(diagnostics.file)
            api = normalise(document, version, resolver, Diagnostics(diagnostics.file))
            check_one_of_branches(api, found)
            return found.items

        validated = parallel.validate_beside(
            document, version, resolver, diagnostics, then=one_of_findings, locate=locate
        )
    else:
        # imported here: its validators take a while to load (see parallel.py)
        from .validate.spec import validate_spec

        validate_spec(document, version, resolver, diagnostics)
    try:
        api = normalise(document, version, resolver, diagnostics)
        if validate_beside:
            one_of_at = len(diagnostics.items)
        else:
            check_one_of_branches(api, diagnostics)
        api = inject_auth(api, settings, diagnostics)
        collection = build_collection(
            api, settings, Renderer(settings.templates_dir), Path(source_path).name, diagnostics
        )
    except TemplateProblem as exc:
        diagnostics.items.append(exc.diagnostic)
        return None
    except BaseException:  # a bug, Ctrl-C: the findings beside no longer matter
        abandoned = True
        raise
    finally:
        if validate_beside:
            validated(one_of_at, abandon=abandoned)
    spec_operations = [Operation(o.method, o.path, o.operation_id) for o in api.operations]
    if operations is not None:
        operations.extend(spec_operations)
    if settings.overlay is not None:
        overlay, problems = load_overlay(settings.overlay)
        diagnostics.items.extend(problems)
        if overlay is None:
            return None
        collection, problems = apply_overlay(
            collection, overlay, spec_operations, source=str(settings.overlay)
        )
        diagnostics.items.extend(located_in(settings.overlay, problems))
    # the last line of defence: fail rather than leak
    for where, kind in find_in_collection(collection):
        diagnostics.error(
            "secret-in-output",
            f"the collection would carry {kind} at #{where} (a variable or "
            "script); nothing was written",
            hint="remove the credential from the API definition, the settings or the templates",
        )
    if settings.check_output:
        check_collection(collection, diagnostics)
    return collection


@dataclass(frozen=True)
class TextResult:
    """A definition written out as text (None when it could not be produced) and the problems
    found."""

    source: str
    text: str | None
    diagnostics: tuple[Diagnostic, ...]


_TextMaker = Callable[[SourceDocument, SpecVersion, BundleResult, Diagnostics], "str | None"]


def bundle_file(
    path: str | Path,
    settings: Settings | None = None,
    *,
    output_format: str | None = None,
    fetch_remote: RemoteFetcher | None = None,
) -> TextResult:
    """The definition with every external `$ref` target bundled in, as YAML or JSON text."""

    def bundled_text(
        source: SourceDocument,
        version: SpecVersion,
        bundled: BundleResult,
        diagnostics: Diagnostics,
    ) -> str | None:
        check_references(bundled.document, RefResolver(bundled.document), diagnostics)
        return (
            None
            if diagnostics.has_errors
            else dump_document(bundled.document, output_format or source.format)
        )

    return _definition_text(path, settings or Settings(), fetch_remote, bundled_text)


def inject_file(path: str | Path, settings: Settings | None = None) -> TextResult:
    """The definition with the client-credentials scheme added or repaired, in its own format.

    External `$ref`s are followed to understand the API but left as they are in the output."""
    settings = settings or Settings()

    def patched_text(
        source: SourceDocument,
        version: SpecVersion,
        bundled: BundleResult,
        diagnostics: Diagnostics,
    ) -> str | None:
        api = normalise(bundled.document, version, RefResolver(bundled.document), diagnostics)
        plan = plan_auth(api, settings, diagnostics)
        return (
            None
            if diagnostics.has_errors
            else dump_document(patch_document(source.data, version, plan), source.format)
        )

    return _definition_text(path, settings, None, patched_text)


def _definition_text(
    path: str | Path, settings: Settings, fetch_remote: RemoteFetcher | None, make_text: _TextMaker
) -> TextResult:
    """Load and bundle a definition, then let `make_text` write it out (when bundling found no
    errors)."""
    try:
        source = load_document(path)
    except LoadError as exc:
        return TextResult(str(path), None, (exc.diagnostic,))
    diagnostics = Diagnostics(file=source.path)
    text = bundled = None
    version = detect_version(source.data, diagnostics)
    if version is not None:
        bundled = bundle(
            source,
            version,
            _file_uri(path),
            _retriever(settings, Path(path), source.path, fetch_remote),
            diagnostics,
        )
        if not diagnostics.has_errors:
            text = make_text(source, version, bundled, diagnostics)
    return TextResult(source.path, text, _located(source, bundled, diagnostics))


def _file_uri(path: str | Path) -> str:
    """The `file:` URI of the input, with `..` and `.` segments removed (as they are from $ref
    URIs)."""
    return Path(os.path.abspath(path)).as_uri()


def _retriever(
    settings: Settings, path: Path, display: str, fetch_remote: RemoteFetcher | None
) -> Retriever:
    try:
        return build_retriever(settings, path, display=display, fetch_remote=fetch_remote)
    except MirrorConfigError as exc:
        return _Refuse(str(exc))


@dataclass(frozen=True)
class _Refuse:
    """A retriever for when the configured one cannot be built: every external reference fails with
    why."""

    reason: str

    def __call__(self, uri: str) -> Any:
        raise RetrievalError(
            "ref-mirror-unusable",
            f"cannot retrieve {uri}: {self.reason}",
            "fix or drop --ref-mirror",
        )


def _located(
    source: SourceDocument, bundled: BundleResult | None, diagnostics: Diagnostics
) -> tuple[Diagnostic, ...]:
    """Every diagnostic with its file and line, those in bundled parts moved to the file they came
    from; the input file's first, in line order."""
    located = [_locate(source, bundled, d) for d in diagnostics.items]
    return tuple(
        sorted(
            located,
            key=lambda d: (
                d.file != source.path,
                d.file,
                d.line is None,
                d.line or 0,
                d.column or 0,
            ),
        )
    )


def _locate_if_json(
    source: SourceDocument, bundled: BundleResult | None, diagnostic: Diagnostic
) -> Diagnostic:
    """`_locate` where the file is JSON, whose positions are read off the text as far as needed; a
    YAML file's are left to `_located`, which composes the file once for all its findings."""
    origin = bundled.origin_of(diagnostic.pointer) if bundled is not None else None
    document = origin.source if origin is not None else source
    if document.format != "json" or not fast_paths.enabled("text-locator"):
        return diagnostic
    return _locate(source, bundled, diagnostic)


def _locate(
    source: SourceDocument, bundled: BundleResult | None, diagnostic: Diagnostic
) -> Diagnostic:
    if diagnostic.line is not None or diagnostic.file != source.path:
        return diagnostic
    origin = bundled.origin_of(diagnostic.pointer) if bundled is not None else None
    if origin is not None:
        diagnostic = dataclasses.replace(
            diagnostic, file=origin.source.path, pointer=origin.pointer
        )
        position = origin.source.locate(origin.pointer)
    else:
        position = source.locate(diagnostic.pointer)
    return diagnostic.located(*position) if position else diagnostic
