"""The conversion pipeline, stage by stage: load -> resolve -> validate -> normalise -> inject auth ->
build collection (rendering text with Jinja2) -> check collection. Writing is the caller's job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build_collection import build_collection
from .check_collection import check_collection
from .diagnostics import Diagnostic, Diagnostics, Severity
from .inject_auth import inject_auth, patch_document, plan_auth
from .load import LoadError, SourceDocument, load_document
from .normalise import normalise
from .render import Renderer, TemplateProblem
from .resolve import RefResolver, check_references
from .settings import Settings
from .validate_spec import detect_version, validate_spec
from .write import dump_document


@dataclass(frozen=True)
class ConversionResult:
    """A collection (None when conversion failed) and every problem found on the way."""

    source: str
    collection: dict[str, Any] | None
    diagnostics: tuple[Diagnostic, ...]

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


def convert_file(path: str | Path, settings: Settings | None = None, *,
                 display_name: str | None = None) -> ConversionResult:
    """Convert one SwaggerHub export on disk."""
    name = display_name or str(path)
    try:
        source = load_document(path, display_name=name)
    except LoadError as exc:
        return ConversionResult(name, None, (exc.diagnostic,))
    return convert_source(source, settings)


def convert_document(document: dict[str, Any], settings: Settings | None = None, *,
                     source: str = "<document>") -> ConversionResult:
    """Convert an already-parsed API definition (a dict as from json.load)."""
    return convert_source(SourceDocument(source, document, "", "json", _compose_failed=True), settings)


def convert_source(source: SourceDocument, settings: Settings | None = None) -> ConversionResult:
    """Run every stage on a loaded document."""
    settings = settings or Settings()
    diagnostics = Diagnostics(file=source.path)
    collection = _run_stages(source, settings, diagnostics)
    located = tuple(sorted((_locate(source, d) for d in diagnostics.items),
                           key=lambda d: (d.line is None, d.line or 0, d.column or 0)))
    if diagnostics.has_errors:
        collection = None
    return ConversionResult(source.path, collection, located)


def _run_stages(source: SourceDocument, settings: Settings, diagnostics: Diagnostics) -> dict[str, Any] | None:
    document = source.data
    version = detect_version(document, diagnostics)
    if version is None:
        return None
    resolver = RefResolver(document)
    check_references(document, resolver, diagnostics)
    if diagnostics.has_errors:
        return None
    validate_spec(document, version, resolver, diagnostics)
    api = normalise(document, version, resolver, diagnostics)
    api = inject_auth(api, settings, diagnostics)
    try:
        collection = build_collection(api, settings, Renderer(settings.templates_dir), Path(source.path).name,
                                      diagnostics)
    except TemplateProblem as exc:
        diagnostics.items.append(exc.diagnostic)
        return None
    if settings.check_output:
        check_collection(collection, diagnostics)
    return collection


@dataclass(frozen=True)
class InjectResult:
    """The patched definition's text (None when it could not be produced) and the problems found."""

    source: str
    text: str | None
    diagnostics: tuple[Diagnostic, ...]


def inject_file(path: str | Path, settings: Settings | None = None) -> InjectResult:
    """The definition with the client-credentials scheme added or repaired, in its own format."""
    settings = settings or Settings()
    try:
        source = load_document(path)
    except LoadError as exc:
        return InjectResult(str(path), None, (exc.diagnostic,))
    diagnostics = Diagnostics(file=source.path)
    text = None
    version = detect_version(source.data, diagnostics)
    if version is not None:
        resolver = RefResolver(source.data)
        api = normalise(source.data, version, resolver, diagnostics)
        plan = plan_auth(api, settings, diagnostics)
        if not diagnostics.has_errors:
            text = dump_document(patch_document(source.data, version, plan), source.format)
    return InjectResult(source.path, text, tuple(_locate(source, d) for d in diagnostics.items))


def _locate(source: SourceDocument, diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.line is not None or diagnostic.file != source.path:
        return diagnostic
    position = source.locate(diagnostic.pointer)
    return diagnostic.located(*position) if position else diagnostic
