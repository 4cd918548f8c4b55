"""Validation beside the build: on a big definition, the validate stage runs in a forked process on
a second core while this one normalises and builds the collection; its findings are then put where
the validate stage would have put them. The findings and the collection are the same as those of the
stages run one after the other (`tests/test_fast_paths.py` compares both ways); only the time
differs.

Its validators (openapi-spec-validator, jsonschema) are loaded in the child too, beside the parent's
work. Used only when asked for (`convert_file(..., validate_beside=True)`, which the CLI asks for
when it converts a single spec and has a core to spare), on platforms with `os.fork`, for documents
big enough to gain from it.
"""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Callable
from typing import Any

from ..diagnostics import Diagnostic, Diagnostics
from ..model import SpecVersion
from ..refs.resolve import RefResolver

MIN_SOURCE_CHARACTERS = 1_000_000
"""Smallest source text validated beside the build: below it, validation takes a tenth of a second
or less, about what forking and the copies of memory pages it causes would cost."""


def validate_beside(
    document: dict[str, Any], version: SpecVersion, resolver: RefResolver, diagnostics: Diagnostics
) -> Callable[[], None]:
    """Start `validate_spec` on `document` in a child process; the returned function waits for it
    and inserts its findings into `diagnostics` where `validate_spec` would have appended them. If
    the child fails in any way, the validation runs again here, so that its outcome (and any bug) is
    exactly the sequential one."""
    mark = len(diagnostics.items)
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return _sequential(document, version, resolver, diagnostics, mark)
    read_end, write_end = os.pipe()
    gc.freeze()  # the child's garbage collector then leaves this process's objects' pages shared
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its work is checked through the parent's results
        os.close(read_end)
        status = 1
        try:
            from .spec import validate_spec  # loaded here, beside the parent's work

            validate_spec(document, version, resolver, diagnostics)
            payload = pickle.dumps(diagnostics.items[mark:], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            status = 0
        finally:
            os._exit(status)
    gc.unfreeze()
    os.close(write_end)

    def finish() -> None:
        with os.fdopen(read_end, "rb") as handle:
            payload = handle.read()
        _, status = os.waitpid(pid, 0)
        found: list[Diagnostic] | None = None
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                found = pickle.loads(payload)  # our own child's data, through our own pipe
            except Exception:  # a truncated payload: validate here instead
                found = None
        if found is None:
            _sequential(document, version, resolver, diagnostics, mark)()
            return
        diagnostics.items[mark:mark] = found

    return finish


def _sequential(
    document: dict[str, Any],
    version: SpecVersion,
    resolver: RefResolver,
    diagnostics: Diagnostics,
    mark: int,
) -> Callable[[], None]:
    def finish() -> None:
        from .spec import validate_spec

        alone = Diagnostics(diagnostics.file, diagnostics.items[:mark])
        validate_spec(document, version, resolver, alone)
        diagnostics.items[mark:mark] = alone.items[mark:]

    return finish
