"""Regular expressions in schemas (`pattern`, `patternProperties`) read as ECMA-262 says, the way
the tools that run a collection read them: Prism (Ajv 8) compiles a pattern with the `u` flag,
Postman's sandbox (Ajv 6) without it. A pattern is read with the flag where it is valid so, else
without (`\\-` outside a class is valid only without). The engine is `regress`, a Rust
implementation of ECMA-262 regular expressions.

Like JavaScript's, the engine backtracks: a repeat inside a repeat (`^(a+)+$`) can take
exponential time on a text that does not match, so such a pattern is only tried on short texts.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator
from typing import Any

import regress

try:
    sre_parse: Any = importlib.import_module("re._parser")  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
    sre_parse = importlib.import_module("sre_parse")

NESTED_REPEAT_TEST_LENGTH = 12
"""Longest text tried against a pattern with a repeat inside a repeat (`^(a+)+$`); on a longer
one the pattern is not held against the text."""


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> regress.Regex | None:
    """`pattern` compiled as ECMA-262 reads it (with the `u` flag where that is valid), or None
    for a text that is no ECMA-262 regular expression (`(?i)a`, `(?P<name>a)`, `a{2,1}`) or that
    the engine cannot take (a lone surrogate, from a `\\ud800` escape in JSON, is no UTF-8)."""
    for flags in ("u", None):
        try:
            return regress.Regex(pattern, flags)
        except regress.RegressError:
            continue
        except UnicodeEncodeError:
            return None
    return None


def is_regex(pattern: str) -> bool:
    """Whether `pattern` is an ECMA-262 regular expression (one holding a lone surrogate, which the
    engine cannot take, is taken to be)."""
    try:
        pattern.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return compiled(pattern) is not None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text`. A pattern that cannot be read, or that may
    backtrack for hours and is given a long text, is not held against it (True)."""
    regex = compiled(pattern)
    if regex is None or (len(text) > NESTED_REPEAT_TEST_LENGTH and may_backtrack(pattern)):
        return True
    try:
        return regex.find(text) is not None
    except UnicodeEncodeError:  # a lone surrogate (from a `\ud800` escape) is no UTF-8
        return True


_ECMA_ONLY = re.compile(r"\\[pP]\{[^}]*\}|\\u\{[0-9A-Fa-f]+\}|\\k<[^>]*>|(?<=\()\?<(?![=!])[^>]*>")
"""What ECMA-262 writes and Python's parser does not read: Unicode properties, code point
escapes, named back-references and named groups; each stands for one character, or is removed
(a group's name), before the structure is looked at."""


def may_backtrack(pattern: str) -> bool:
    """Whether `pattern` may take exponential time on a text it does not match: it has a repeat
    inside a repeat (`^(a+)+$`), or a structure that cannot be read."""
    return nested_repeat(pattern) is not False


@functools.lru_cache(maxsize=4096)
def nested_repeat(pattern: str) -> bool | None:
    """Whether `pattern` has a repeat inside a repeat, by Python's parser of its structure (which
    reads ECMA-262's common syntax); None when the structure cannot be read."""
    readable = _ECMA_ONLY.sub(lambda m: "" if m.group().startswith("?") else "a", pattern)
    try:
        return has_nested_repeat(sre_parse.parse(readable))
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None


def has_nested_repeat(parsed: Any, inside: bool = False) -> bool:
    """Whether a part that repeats (more than once) holds another such part, in the structure
    Python's regular-expression parser gives."""
    for op, argument in parsed:
        name = opcode_name(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            many = argument[1] > 1
            if (many and inside) or has_nested_repeat(argument[2], inside or many):
                return True
            continue
        parts = {
            "SUBPATTERN": [argument[-1]] if name == "SUBPATTERN" else [],
            "ATOMIC_GROUP": [argument],
            "BRANCH": argument[1] if name == "BRANCH" else [],
            "ASSERT": [argument[1]] if name == "ASSERT" else [],
            "ASSERT_NOT": [argument[1]] if name == "ASSERT_NOT" else [],
        }.get(name, [])
        if any(has_nested_repeat(part, inside) for part in parts):
            return True
    return False


def opcode_name(constant: Any) -> str:
    """The name of one of the regular-expression parser's opcodes (LITERAL, IN, ...)."""
    return str(getattr(constant, "name", constant))


_READ_ALIKE_UNSAFE = re.compile(r"\\[bBk1-9]|\(\?<?[=!]")
"""Where jsonschema-rs's engine reads a valid pattern otherwise than ECMA-262: word boundaries
(Unicode words to it, ASCII ones to ECMA-262), and in a pattern with a lookaround or a
back-reference, `\\d`, `\\w` and `\\s` too (Unicode classes)."""


@functools.lru_cache(maxsize=4096)
def read_alike_by_jsonschema_rs(pattern: str) -> bool:
    """Whether jsonschema-rs matches the same texts with `pattern` as this module does: it must be
    valid with the `u` flag and hold none of the constructs the engines read differently (tests
    compare the two on generated patterns and texts)."""
    if _READ_ALIKE_UNSAFE.search(pattern.replace("\\\\", "")):
        return False
    try:
        regress.Regex(pattern, "u")
    except (regress.RegressError, UnicodeEncodeError):
        return False
    return True


@functools.cache
def ecma_validator(validator_class: Any) -> Any:
    """`validator_class` (a jsonschema validator class), except that `pattern`,
    `patternProperties` and `additionalProperties` read patterns with `search`. Error messages
    are jsonschema's. (`unevaluatedProperties` keeps jsonschema's reading: the only schema of
    that dialect checked here is the OpenAPI 3.1 meta-schema, whose one pattern, `^x-`, reads the
    same in both.)"""
    from jsonschema._utils import extras_msg
    from jsonschema.exceptions import ValidationError
    from jsonschema.validators import extend

    def pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not search(pattern, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    def pattern_properties(
        validator: Any, patterns: Any, instance: Any, schema: Any
    ) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for name_pattern, subschema in patterns.items():
            for name, value in instance.items():
                if search(name_pattern, name):
                    yield from validator.descend(
                        value, subschema, path=name, schema_path=name_pattern
                    )

    def additional_properties(
        validator: Any, additional: Any, instance: Any, schema: Any
    ) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extras = {
            name
            for name in instance
            if name not in properties and not any(search(p, name) for p in patterns)
        }
        if validator.is_type(additional, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], additional, path=extra)
        elif not additional and extras:
            if "patternProperties" in schema:
                verb = "does" if len(extras) == 1 else "do"
                joined = ", ".join(repr(each) for each in sorted(extras))
                listed = ", ".join(repr(each) for each in sorted(patterns))
                yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
            else:
                error = "Additional properties are not allowed (%s %s unexpected)"
                yield ValidationError(error % extras_msg(sorted(extras, key=str)))

    return extend(
        validator_class,
        {
            "pattern": pattern,
            "patternProperties": pattern_properties,
            "additionalProperties": additional_properties,
        },
    )
