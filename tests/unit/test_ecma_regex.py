"""Schema patterns mean what ECMA-262 says (the README's decision): the engine, the guard against
patterns that backtrack for hours, and the reference validator that reads patterns so."""

from __future__ import annotations

import time

import jsonschema
import pytest

from kpn_collections import ecma_regex
from kpn_collections.validate.schema_check import SchemaCheck


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^\d+$", "12", True),
        (r"^\d+$", "12\n", False),  # `$` is the end, not "before a final newline"
        (r"^\d+$", "\u0661\u0662", False),  # `\d` is ASCII
        (r"^a.b$", "a\rb", False),  # `.` is no line terminator
        (r"^a.b$", "a\u2028b", False),
        (r"^a.b$", "a\u00e9b", True),
        (r"^\w+$", "\u00e9t\u00e9", False),  # `\w` is ASCII
        (r"^\s$", "\ufeff", True),  # ECMA-262's white space
        (r"^\p{L}+$", "\u00e9t\u00e9", True),  # a Unicode property, with the `u` flag
        (r"^\u{1F600}$", "\U0001f600", True),
        (r"^[a-z]+\-[0-9]+$", "ab-12", True),  # `\-`: valid only without the flag, read so
        (r"^\-\p{L}$", "-p{L}", True),  # ... where `\p{L}` means "p{L}"
    ],
)
def test_patterns_are_read_as_ecma_262(pattern: str, text: str, matches: bool) -> None:
    assert ecma_regex.search(pattern, text) is matches


@pytest.mark.parametrize("pattern", [r"(?i)abc", r"(?P<name>a)", r"a{2,1}", "["])
def test_a_text_that_is_no_ecma_262_pattern_is_not_held_against_a_value(pattern: str) -> None:
    assert ecma_regex.compiled(pattern) is None
    assert ecma_regex.search(pattern, "anything") is True


def test_a_lone_surrogate_is_not_held_against_a_value() -> None:
    assert ecma_regex.search("^a$", "\ud800") is True


@pytest.mark.parametrize(
    ("pattern", "nested"),
    [
        (r"^(a+)+$", True),
        (r"^(\p{L}+)*$", True),  # ECMA-262's own syntax is read too
        (r"^(?<year>\d{4})-(\d{2})$", False),
        (r"^\p{L}+\u{1F600}$", False),
        (r"^[a-z]+(-[a-z])*$", False),
        (r"^(?i)(a+)+$", True),  # a structure Python's parser refuses counts as nested
    ],
)
def test_patterns_that_may_backtrack_are_found(pattern: str, nested: bool) -> None:
    assert ecma_regex.may_backtrack(pattern) is nested


def test_a_pattern_that_backtracks_is_only_tried_on_short_texts() -> None:
    """`^(a+)+$` takes about a second on 25 characters that do not match; on 60 it would take
    years. A short text is still judged."""
    started = time.monotonic()
    assert ecma_regex.search(r"^(a+)+$", "a" * 60 + "b") is True
    assert time.monotonic() - started < 5
    assert ecma_regex.search(r"^(a+)+$", "aab") is False


@pytest.mark.parametrize(
    ("schema", "instance", "python_messages", "ecma_messages"),
    [
        (
            {"pattern": r"^\d+$"},
            "12\n",
            [],
            ["'12\\n' does not match '^\\\\d+$'"],
        ),
        (
            {"patternProperties": {r"^x-\d$": {"type": "string"}}},
            {"x-\u0661": 5},
            ["5 is not of type 'string'"],
            [],
        ),
        (
            {"patternProperties": {r"^x-\d$": {}}, "additionalProperties": False},
            {"x-1\n": 1, "x-2": 2},
            [],
            ["'x-1\\n' does not match any of the regexes: '^x-\\\\d$'"],
        ),
        (
            {"properties": {"a": {}}, "additionalProperties": False},
            {"a": 1, "b": 2, "c": 3},
            ["Additional properties are not allowed ('b', 'c' were unexpected)"],
            ["Additional properties are not allowed ('b', 'c' were unexpected)"],
        ),
        (
            {"properties": {"a": {}}, "additionalProperties": {"type": "string"}},
            {"a": 1, "b": 2},
            ["2 is not of type 'string'"],
            ["2 is not of type 'string'"],
        ),
    ],
)
def test_the_reference_validator_reads_patterns_as_ecma_262_in_jsonschemas_words(
    schema: dict[str, object],
    instance: object,
    python_messages: list[str],
    ecma_messages: list[str],
) -> None:
    """Where Python's `re` and ECMA-262 agree, the messages are jsonschema's own; where they do
    not, the answer is ECMA-262's, on the reference path and on the fast one."""
    python = jsonschema.Draft7Validator(schema)
    assert [e.message for e in python.iter_errors(instance)] == python_messages
    check = SchemaCheck(schema)
    assert [e.message for e in check.reference.iter_errors(instance)] == ecma_messages
    assert [e.message for e in check.iter_errors(instance)] == ecma_messages
    assert check.reference_valid(instance) is (not ecma_messages)
