"""What the load stage raises: a LoadError carrying one located diagnostic."""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostic, Severity
from .limits import MAX_DEPTH


class LoadError(Exception):
    """The document could not be read; carries one located diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


def diag(
    name: str,
    code: str,
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    hint: str = "",
) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR, code, message, file=name, pointer="", line=line, column=column, hint=hint
    )


def mark_diag(name: str, code: str, mark: Any, message: str, *, hint: str = "") -> Diagnostic:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Diagnostic(
        Severity.ERROR, code, message, file=name, pointer="", line=line, column=column, hint=hint
    )


def too_deep(name: str, mark: Any = None) -> Diagnostic:
    """The document nests deeper than MAX_DEPTH (`mark`: where, in YAML, when known)."""
    return mark_diag(
        name,
        "too-deep",
        mark,
        f"the document nests deeper than {MAX_DEPTH} levels",
        hint="flatten the structure or use $ref",
    )
