"""Absorb: from a collection testers edited back to the spec's overlay, three-way.

base is the collection generated then (the committed file), theirs the edited one (exported from
Postman or edited in the file), ours what the current spec generates. Only base -> theirs
differences are the testers' work; an edit whose operation is gone, or that collides with a spec
change on the same field, goes under the overlay's `orphans` with a located report, never dropped.
Postman's re-serialisation (ids, key order, header `type`s, `exec` line splitting, description
objects, `_` fields) is normalised away before comparing, and secrets typed into the edited
collection are reported and left out.

`absorb` works on data (the `publish` command calls it); `absorb_file` reads and generates the three
collections for the CLI.
"""

from __future__ import annotations

from .files import (
    UNREADABLE,
    AbsorbError,
    AbsorbFileResult,
    absorb_file,
    committed_text,
    hand_edits,
    read_collection,
)
from .three_way import AbsorbResult, absorb

__all__ = [
    "UNREADABLE",
    "AbsorbError",
    "AbsorbFileResult",
    "AbsorbResult",
    "absorb",
    "absorb_file",
    "committed_text",
    "hand_edits",
    "read_collection",
]
