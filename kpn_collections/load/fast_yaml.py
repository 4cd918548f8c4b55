"""Fast path "yaml-rs": YAML read by yaml-rs (Rust) when the text holds nothing it reads
differently from our PyYAML loader (the reference, in document.py); anything it is unsure of,
errors included, goes to PyYAML, which also locates problems."""

from __future__ import annotations

import bisect
import functools
import re
from typing import Any

try:
    import yaml_rs
except ImportError:  # pragma: no cover - yaml-rs ships wheels for the usual platforms
    yaml_rs = None  # type: ignore[assignment]

from .limits import MAX_DEPTH, digit_limit

_YAML_REFUSED = re.compile(
    "[^\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
"""Characters YAML forbids (PyYAML refuses them), those YAML 1.1 reads as line breaks where 1.2 does
not (NEL, U+2028, U+2029), byte order marks, and tabs, which 1.2 accepts as separators in more
places than 1.1."""
_NUMBER_TAIL = r"[0-9_.]*(?:[eE][-+]?[0-9_]+)?"
_YAML_RS_NUMBER = re.compile(
    r"[-+]?(?:0[0-9_]"
    + _NUMBER_TAIL
    + r"|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"  # 0612, 0X1F, 0b101
    + r"|[0-9.]*_"
    + _NUMBER_TAIL
    + r"|[0-9.]+[eE][-+]?[0-9]*_[0-9_]*)"  # 1_000
    + r"|\+[0-9.]"
    + _NUMBER_TAIL
)  # +1: a number to both, but as a key only its text is kept
"""Plain scalars yaml-rs reads as numbers where our loader keeps text (or, as keys, keeps the text
as written)."""
_NUMBER_HINTS = (
    re.compile(r"0[0-9_xXoObB]"),
    re.compile(r"_(?:(?<=[0-9._]_)|(?=[0-9_]))"),
    re.compile(r"\+[0-9.]"),
)
"""Where a number token yaml-rs reads differently may be: each search opens with a literal
character, which the regular expression engine finds far faster than the first of several
alternatives."""
_ASCII_ALLOWED = bytes([0x0A, 0x0D, *range(0x20, 0x7F)])
"""The ASCII characters _YAML_REFUSED lets through."""
_TOKEN_CHARACTERS = frozenset("0123456789_.+-eExXoObBaAcCdDfF")
_TOKEN_BEFORE = frozenset(" \n\r[{,")


def _unsure_for_yaml_rs(text: str) -> bool:
    """Whether yaml-rs and our loader could read `text` differently: YAML 1.2's numbers with leading
    zeros or underscores, tags, anchors, merge keys, directives, characters PyYAML refuses, risky
    flow collections, an empty block scalar at the end. A match in quoted text or a description only
    costs speed. (Searches open with a rare character and look around in Python: one regular
    expression for all of it is ten times slower on a big document.)"""
    padded = "\n" + text  # every token then has a character before it
    if (
        "<<" in padded
        or "\n%" in padded
        or _has_refused_character(text)
        or _has_long_digit_run(text)
    ):
        return True
    for mark in "!&":  # a tag; an anchor (and so possibly an alias)
        at = padded.find(mark)
        while at >= 0:
            if padded[at - 1] in _TOKEN_BEFORE and (
                mark == "!" or not padded[at + 1 : at + 2].isspace()
            ):
                return True
            at = padded.find(mark, at + 1)
    for hints in _NUMBER_HINTS:
        if any(_number_token_at(padded, match.start()) for match in hints.finditer(padded)):
            return True
    return _ends_in_block_header(text) or _has_risky_flow_collection(text)


def _has_refused_character(text: str) -> bool:
    """Whether `text` holds a character of _YAML_REFUSED (for ASCII text, found by
    bytes.translate rather than the search)."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_ALLOWED))
    return _YAML_REFUSED.search(text) is not None


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _has_long_digit_run(text: str) -> bool:
    """Whether `text` has more digits in a row than an integer may have: yaml-rs would read them as
    a number that cannot be written back as text; PyYAML's reading is then refused with a located
    error. Found as a run of zeros after a translation, cheaper than a regular expression."""
    return (
        text.encode("utf-8", "surrogatepass")
        .translate(_DIGITS_AS_ZERO)
        .find(b"0" * (digit_limit() + 1))
        >= 0
    )


def _number_token_at(padded: str, at: int) -> bool:
    """Whether the plain token around `padded[at]` is one yaml-rs reads as a number and we do
    not."""
    start = end = at
    while padded[start - 1] in _TOKEN_CHARACTERS:
        start -= 1
    while end < len(padded) and padded[end] in _TOKEN_CHARACTERS:
        end += 1
    if padded[start - 1] not in _TOKEN_BEFORE or not _YAML_RS_NUMBER.fullmatch(padded, start, end):
        return False
    after = padded[end : end + 2]
    return (
        not after
        or after[0] in " \n\r,]}"
        or (after[0] == ":" and after[1:2] in ("", " ", "\n", "\r"))
    )


def fast_yaml(text: str) -> Any:
    """The document as yaml-rs reads it, when that is sure to be what `_parse_yaml` returns; else
    None.

    It is used only for
    text that `_unsure_for_yaml_rs` finds nothing risky in, whose root is a mapping, whose keys are
    text (or integers, written back as the text they were) and that nests no deeper than MAX_DEPTH;
    everything else, errors included, goes to PyYAML, which also locates problems.
    """
    if yaml_rs is None or _unsure_for_yaml_rs(text):
        return None
    try:
        data = yaml_rs.loads(
            text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error
        )
    except Exception:  # whatever yaml-rs refuses, PyYAML explains with a location
        return None
    if not isinstance(data, dict):
        return None
    return _with_text_keys(data)


_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*[ \t]*(?:#.*)?$")


def _ends_in_block_header(text: str) -> bool:
    """Whether the document ends with an empty block scalar (`key: |` and nothing after): yaml-rs
    reads "\n"."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _BLOCK_HEADER.search(stripped) is not None
    return False


_BLOCK_SCALAR_HEADER = re.compile(
    r"^([ ]*(?:[-?][ ]+)*)(?:(.*?[^ ])[ ]*:[ ]+)?[|>][0-9+-]*[ ]*(?:#.*)?$"
)
_FLOW_START = re.compile(
    r"""^[ ]*(?:[-?][ \t]+)*(?:(?:"[^"]*"|'[^']*'|(?:[^\s#'":]|:(?![ \t]))(?:[^#:]|:(?![ \t]))*?)[ \t]*:[ \t]+)?"""  # noqa: E501
    r"[\[{]"
)
_FLOW_RISK = re.compile(r"[\[{,:][ \t]*(?:[:?,|>@`%&*!#\t]|-(?:\s|$))|:[^ \t\r\n]|\t")


def _has_risky_flow_collection(text: str) -> bool:
    """Whether a flow collection (`[a, b]`, `{a: 1}`) holds what YAML 1.2 (yaml-rs) accepts and 1.1
    (PyYAML) refuses (`[:a]`, `{a: |}`, `[a:, b]`), or spans lines. Lines inside block scalars
    (descriptions, whose Markdown links look like flow collections) are skipped; a multi-line plain
    scalar's line may be taken for a flow collection, which only costs speed.

    Only the lines that matter are looked at: block scalar headers (found by their `|`/`>` at a
    line's end), with the extent of each scalar found by one search, then the lines with a bracket
    outside them."""
    if "\r" in text and "\r" in text.replace("\r\n", ""):
        return True  # lone carriage returns as line breaks: not worth a special case
    blocks: list[tuple[int, int]] = []  # (start, end) of each block scalar's content
    headers: set[int] = set()
    block_end = -1
    for at in _positions(text, "|>"):
        hint = _BLOCK_HEADER_HINT.match(text, at)
        if hint is None:
            continue
        line_start = text.rfind("\n", 0, hint.start()) + 1
        if line_start < block_end or line_start in headers:
            continue
        line_end = text.find("\n", hint.start())
        line_end = len(text) if line_end < 0 else line_end
        line = text[line_start:line_end].rstrip("\r")
        header = _BLOCK_SCALAR_HEADER.match(line)
        if header is None:
            continue
        headers.add(line_start)
        key = header.group(2)
        parent = len(header.group(1)) if key is None else line.index(key, len(header.group(1)))
        end = _block_end(parent).search(text, line_end)
        block_end = len(text) if end is None else end.start() + 1
        blocks.append((line_end, block_end))
    starts = [start for start, _ in blocks]
    seen: set[int] = set()
    for bracket in _positions(text, "[{"):
        line_start = text.rfind("\n", 0, bracket) + 1
        if line_start in seen or line_start in headers:
            continue
        seen.add(line_start)
        index = bisect.bisect_right(starts, line_start) - 1
        if index >= 0 and line_start < blocks[index][1]:
            continue  # inside a block scalar
        line_end = text.find("\n", line_start)
        line = (text[line_start:] if line_end < 0 else text[line_start:line_end]).rstrip("\r")
        start = _FLOW_START.match(line)
        if start is not None:
            flow = line[start.end() - 1 :]
            opened = flow.count("[") + flow.count("{") - flow.count("]") - flow.count("}")
            if opened != 0 or _FLOW_RISK.search(flow):
                return True
    return False


def _positions(text: str, characters: str) -> list[int]:
    """Every index of any of `characters` in `text`, in order (str.find, cheaper than a regular
    expression searching for a character class). Several hints on one line are fine
    for the callers, which look at each line once."""
    found: list[int] = []
    for character in characters:
        at = text.find(character)
        while at >= 0:
            found.append(at)
            at = text.find(character, at + 1)
    return sorted(found)


_BLOCK_HEADER_HINT = re.compile(r"[|>][0-9+-]*[ ]*(?:#[^\n]*)?\r?$", re.MULTILINE)


@functools.cache
def _block_end(parent: int) -> re.Pattern[str]:
    """Where a block scalar under a key at column `parent` ends: the next line that is neither blank
    nor indented further."""
    return re.compile(r"\n(?! {" + str(parent + 1) + r"})(?![^\S\n]*(?:\n|\Z))")


def _with_text_keys(data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` with integer keys (`200:`) as the text they were written as; None if a key is anything
    else, two keys then clash (`200:` and `'200':`, a duplicate to PyYAML), or the data nests deeper
    than MAX_DEPTH (PyYAML then says where). One walk for all three."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return None
        if type(value) is dict:
            if not all(type(key) is str for key in value):
                if not all(type(key) in (str, int) for key in value):
                    return None
                renamed = {str(key): item for key, item in value.items()}
                if len(renamed) != len(value):
                    return None
                value.clear()
                value.update(renamed)
            children = value.values()
        else:
            children = value
        stack.extend(
            (child, depth + 1) for child in children if type(child) is dict or type(child) is list
        )
    return data
