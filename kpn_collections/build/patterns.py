"""The simplest string a regular expression (a schema's `pattern`) matches, found without
randomness.

Patterns in OpenAPI are ECMA-262 regular expressions; Python's parser gives the structure of their
common syntax (classes, ranges, repeats, groups, alternatives, anchors), and every string made is
then tried by ECMA-262's reading (ecma_regex.py). A pattern outside that syntax, or a string that
does not match after all, gives None: the caller keeps its own value.
"""

from __future__ import annotations

import re
from typing import Any

from ..ecma_regex import (
    NESTED_REPEAT_TEST_LENGTH,
    compiled,
    may_backtrack,
    opcode_name,
    sre_parse,
)

MAX_REPEAT = 64
"""Most repetitions of one part written out (a pattern asking for more gives None)."""
MAX_LENGTH = 1_024
"""Longest string made from a pattern, counted over the whole string: nested repeats
(`((a{64}){64}){64}`) multiply, so a bound per repeat alone would let a short pattern ask for
gigabytes (such a pattern gives None)."""
_CANDIDATES = "a0A_-. x"
"""Characters tried, in order, where any character outside a negated class will do."""


class _Unsupported(Exception):
    pass


def matching_string(
    pattern: str, preferred: str, min_length: int = 0, max_length: int | None = None
) -> str | None:
    """`preferred` if the pattern already matches it, else the simplest string it matches within the
    length limits, else None."""

    ecma = compiled(pattern)
    if ecma is None:
        return None
    nested = may_backtrack(pattern)

    def fits(text: str) -> bool:
        if nested and len(text) > NESTED_REPEAT_TEST_LENGTH:
            return False
        return (
            min_length <= len(text) <= (max_length if max_length is not None else len(text))
            and ecma.find(text) is not None
        )

    try:
        if fits(preferred):
            return preferred
        if min_length > MAX_LENGTH:
            return None
        parsed = sre_parse.parse(pattern)
        # fewest repetitions first, then as many as the minimum length asks
        for grow in (
            0,
            min_length,
        ):
            text = _emit(parsed, grow, MAX_LENGTH)
            if fits(text):
                return text
        padded = text + "x" * max(0, min_length - len(text))  # an unanchored pattern matches inside
        return padded if fits(padded) else None
    except (re.error, _Unsupported, RecursionError, OverflowError, ValueError, UnicodeEncodeError):
        return None


def _emit(parsed: Any, grow: int, room: int) -> str:
    """The parts' text, at most `room` characters long (else _Unsupported)."""
    text = ""
    for op, argument in parsed:
        text += _part(op, argument, grow, room - len(text))
        if len(text) > room:
            raise _Unsupported("too long")
    return text


def _part(op: Any, argument: Any, grow: int, room: int) -> str:
    name = opcode_name(op)
    if name == "LITERAL":
        return chr(argument)
    if name in ("NOT_LITERAL", "ANY"):
        return next(c for c in _CANDIDATES if name == "ANY" or ord(c) != argument)
    if name == "IN":
        return _in(argument)
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, sub = argument
        count = min(high, max(low, grow))
        if count > MAX_REPEAT:
            raise _Unsupported
        once = _emit(sub, grow, room)
        if len(once) * count > room:  # checked before the text is made
            raise _Unsupported("too long")
        return once * count
    if name == "SUBPATTERN":
        return _emit(argument[-1], grow, room)
    if name == "ATOMIC_GROUP":
        return _emit(argument, grow, room)
    if name == "BRANCH":
        return _emit(argument[1][0], grow, room)
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return ""
    if name == "CATEGORY":
        return _category(opcode_name(argument))
    raise _Unsupported(name)


def _category(name: str) -> str:
    return {
        "CATEGORY_DIGIT": "0",
        "CATEGORY_WORD": "a",
        "CATEGORY_SPACE": " ",
        "CATEGORY_NOT_DIGIT": "a",
        "CATEGORY_NOT_WORD": "-",
        "CATEGORY_NOT_SPACE": "a",
    }.get(name) or _raise(name)


def _raise(name: str) -> str:
    raise _Unsupported(name)


def _in(items: list[tuple[Any, Any]]) -> str:
    if items and opcode_name(items[0][0]) == "NEGATE":
        rest = re.compile("[" + "".join(_class_text(op, arg) for op, arg in items[1:]) + "]")
        return next((c for c in _CANDIDATES if not rest.match(c)), "") or _raise("NEGATE")
    op, argument = items[0]
    name = opcode_name(op)
    if name == "LITERAL":
        return chr(argument)
    if name == "RANGE":
        return chr(argument[0])
    if name == "CATEGORY":
        return _category(opcode_name(argument))
    raise _Unsupported(name)


def _class_text(op: Any, argument: Any) -> str:
    name = opcode_name(op)
    if name == "LITERAL":
        return re.escape(chr(argument))
    if name == "RANGE":
        return re.escape(chr(argument[0])) + "-" + re.escape(chr(argument[1]))
    if name == "CATEGORY":
        return {
            "CATEGORY_DIGIT": r"\d",
            "CATEGORY_WORD": r"\w",
            "CATEGORY_SPACE": r"\s",
            "CATEGORY_NOT_DIGIT": r"\D",
            "CATEGORY_NOT_WORD": r"\W",
            "CATEGORY_NOT_SPACE": r"\S",
        }.get(opcode_name(argument)) or _raise(opcode_name(argument))
    raise _Unsupported(name)
