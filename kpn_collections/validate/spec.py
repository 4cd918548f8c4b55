"""Validate stage: openapi-spec-validator plus the checks real SwaggerHub exports need, as located
diagnostics.

Problems in the document are warnings by default, so that slightly broken real-world exports still
convert (`--strict` turns them into failures). Errors are kept for what the converter cannot read,
or could only convert by silently dropping part of the API: `paths`, a path item or an operation
that is not a mapping, and an operation under a key that is no HTTP method.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostics
from ..model import SpecVersion
from ..refs.resolve import RefResolver
from .checks import run_checks
from .fast_meta import oas30_meta_check, oas31_meta_fast
from .library import report_semantic, report_structural, semantic_errors, structural_check


def prepare() -> None:
    """Build what validating any document needs: the meta-schema checks of every version, the fast
    schema meta-checks (a batch calls this before forking its workers, which then share all of
    it)."""
    for version in SpecVersion:
        structural_check(version)
    oas30_meta_check()
    oas31_meta_fast()


def validate_spec(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> None:
    """Report every problem openapi-spec-validator and our own checks find, each with its JSON
    pointer."""
    own = Diagnostics(diagnostics.file)
    run_checks(document, version, resolver, own)
    explained = {d.pointer for d in own.items} | {
        d.pointer.rsplit("/", 1)[0]
        for d in own.items
        if d.code in ("unknown-method", "parameter-without-in")
    }
    well_formed = True
    for error in structural_check(version).iter_errors(document):
        well_formed = False
        report_structural(error, explained, diagnostics)
    diagnostics.items.extend(own.items)
    # the semantic pass stops at (or loops on) a broken reference, and trips over broken structure
    if not resolver.broken and not resolver.cyclic and not own.has_errors:
        report_semantic(
            semantic_errors(document, version, resolver, well_formed=well_formed), diagnostics
        )
