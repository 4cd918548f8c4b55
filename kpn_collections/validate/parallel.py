"""Validation beside the build: on a big definition, the validate stage runs in a forked process on
a second core while this one normalises and builds the collection, and so does the `oneOf` check
that follows normalising (it only reports); their findings are then put where those stages would
have put them, those in JSON files already located (the child has time to spare). The findings and
the collection are the same as those of the stages run one after the other
(`tests/equivalence/test_fast_paths.py` compares both ways); only the time differs.

Its validators (openapi-spec-validator, jsonschema) are loaded in the child too, beside the parent's
work. Used only when asked for (`convert_file(..., validate_beside=True)`, which the CLI asks for
when it converts a single spec and has a core to spare), on platforms with `os.fork`, for documents
big enough to gain from it.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any, Protocol

from ..diagnostics import Diagnostic, Diagnostics
from ..model import SpecVersion
from ..refs.resolve import RefResolver

MIN_SOURCE_CHARACTERS = 1_000_000
"""Smallest source text validated beside the build: below it, validation takes a tenth of a second
or less, about what forking and the copies of memory pages it causes would cost."""

Findings = Callable[[], list[Diagnostic]]
"""A report-only stage that follows validation: its findings, computed anew."""


class Finish(Protocol):
    """Waits for the child; `then_at` is where the later stage's findings go (None: the stages
    before it failed, and they are not wanted). `abandon`: an exception is on its way out (a bug,
    Ctrl-C), no finding is wanted any more; the child is ended, nothing is validated here."""

    def __call__(self, then_at: int | None, *, abandon: bool = False) -> None: ...


def validate_beside(
    document: dict[str, Any],
    version: SpecVersion,
    resolver: RefResolver,
    diagnostics: Diagnostics,
    *,
    then: Findings,
    locate: Callable[[Diagnostic], Diagnostic],
) -> Finish:
    """Start `validate_spec` on `document` in a child process, and `then` after it; the returned
    function waits for the child and inserts the validation's findings where `validate_spec` would
    have appended them, and those of `then` at the place it is given. The child locates every
    finding with `locate`. If the child fails in any way, both run again here, so that their outcome
    (and any bug) is exactly the sequential one."""
    mark = len(diagnostics.items)
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return _sequential(document, version, resolver, diagnostics, mark, then)
    read_end, write_end = os.pipe()
    gc.freeze()  # the child's garbage collector then leaves this process's objects' pages shared
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its work is checked through the parent's results
        os.close(read_end)
        status = 1
        try:
            from .spec import validate_spec  # loaded here, beside the parent's work

            validate_spec(document, version, resolver, diagnostics)
            found = ([locate(d) for d in diagnostics.items[mark:]], [locate(d) for d in then()])
            payload = pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            status = 0
        finally:
            os._exit(status)
    gc.unfreeze()
    os.close(write_end)

    def finish(then_at: int | None, *, abandon: bool = False) -> None:
        if abandon:
            os.close(read_end)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        with os.fdopen(read_end, "rb") as handle:
            payload = handle.read()
        _, status = os.waitpid(pid, 0)
        found: tuple[list[Diagnostic], list[Diagnostic]] | None = None
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                found = pickle.loads(payload)  # our own child's data, through our own pipe
            except Exception:  # a truncated payload: validate here instead
                found = None
        if found is None:
            _sequential(document, version, resolver, diagnostics, mark, then)(then_at)
            return
        validated, later = found
        if then_at is not None:
            diagnostics.items[then_at:then_at] = later
        diagnostics.items[mark:mark] = validated

    return finish


def _sequential(
    document: dict[str, Any],
    version: SpecVersion,
    resolver: RefResolver,
    diagnostics: Diagnostics,
    mark: int,
    then: Findings,
) -> Finish:
    def finish(then_at: int | None, *, abandon: bool = False) -> None:
        if abandon:
            return
        from .spec import validate_spec

        alone = Diagnostics(diagnostics.file, diagnostics.items[:mark])
        validate_spec(document, version, resolver, alone)
        if then_at is not None:
            diagnostics.items[then_at:then_at] = then()
        diagnostics.items[mark:mark] = alone.items[mark:]

    return finish
