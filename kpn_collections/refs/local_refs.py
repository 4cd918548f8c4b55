"""Fast path "local-refs": a document whose text names no external `$ref` is not walked for them
(the reference is the walk, `_has_external_ref` in bundle.py)."""

from __future__ import annotations

import re

_NON_LOCAL_REF = re.compile(r"""\$ref['"]?\s*:\s*(?=\S)(?!['"]?#)""")


def text_has_only_local_refs(text: str) -> bool:
    """A shortcut through the source text: True when every `$ref` key in it is followed by a value
    opening with `#` (so nothing is external). False means "look at the data": some `$ref` may be
    external, or the text escapes one of its letters, or is not at hand."""
    return (
        bool(text)
        and _REF_LETTER_ESCAPE.search(text) is None
        and _NON_LOCAL_REF.search(text) is None
    )


_REF_LETTER_ESCAPE = re.compile(r"\\(?:u00|x|U000000)(?:24|72|65|66)")
"""`$`, `r`, `e` or `f` written as an escape (JSON `\u0024`, YAML `\x24`): a `$ref` the text search
cannot see."""
