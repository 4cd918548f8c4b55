"""Limits every reader of a document keeps to, whichever parser reads it."""

from __future__ import annotations

import sys

MAX_DEPTH = 200
"""Deepest nesting of mappings and sequences accepted; real specs stay far below it."""
MAX_EXPANDED_NODES = 2_000_000
"""Most nodes a document may expand to once YAML aliases are followed (guards against "billion
laughs")."""


def digit_limit() -> int:
    """The most decimal digits an integer may have (Python's limit on turning text into int and
    back)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return int(limit) or 4300  # 0: no limit in this Python; JSON readers elsewhere still have one
