"""The PyYAML reader (`read_yaml`): YAML 1.2 core-schema scalars (so `on`, `yes`, `no` and dates
stay strings), mapping keys kept as the text written (so `200:` is the key "200"), duplicate keys
rejected with line and column, bounded alias expansion and nesting depth. The reference of the
yaml-rs fast path (fast_yaml.py), and the reader of every YAML error."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..diagnostics import Diagnostic, Severity
from ..files import MAX_FILE_BYTES
from .errors import LoadError, diag, mark_diag, too_deep
from .limits import MAX_DEPTH, MAX_EXPANDED_NODES, digit_limit

try:  # the C parser is much faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

# YAML 1.2 core schema, except that numbers with a leading zero ("0612345678") stay strings: they
# are phone numbers and ids in real specs, and SwaggerHub (YAML 1.1) keeps them as strings too.
_INT_RE = re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+|0o[0-7]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class CoreSchemaLoader(_BaseLoader):
    """PyYAML loader whose implicit tags follow the YAML 1.2 core schema."""

    # PyYAML's API: a class attribute
    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]]
    yaml_implicit_resolvers = {}  # noqa: RUF012


for _tag, _regexp, _first in (
    (_BOOL, _BOOL_RE, list("tTfF")),
    (_INT, _INT_RE, list("-+0123456789")),
    (_FLOAT, _FLOAT_RE, list("-+0123456789.")),
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_MERGE, re.compile(r"^(?:<<)$"), ["<"]),
):
    CoreSchemaLoader.add_implicit_resolver(_tag, _regexp, _first)


def read_yaml(text: str, name: str) -> Any:
    loader = CoreSchemaLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "single document" in str(exc):
            raise LoadError(
                mark_diag(
                    name,
                    "several-documents",
                    exc.problem_mark,
                    "the file holds several YAML documents; expected one",
                    hint="keep one API definition per file",
                )
            ) from None
        raise LoadError(_yaml_error(name, exc, text)) from None
    except yaml.YAMLError as exc:
        raise LoadError(_yaml_error(name, exc, text)) from None
    except RecursionError:
        raise LoadError(too_deep(name)) from None
    finally:
        loader.dispose()
    if root is None:
        raise LoadError(
            diag(
                name,
                "empty",
                "the file holds no YAML document",
                hint="export the API definition again",
            )
        )
    return _Constructor(name).construct(root)


class _Constructor:
    """Turns a composed YAML node graph into JSON-compatible Python data, with the checks described
    above."""

    def __init__(self, name: str):
        self.name = name
        self.expanded = 0
        self.in_progress: set[int] = set()
        # scalar nodes of 64 characters or more, constructed once already
        self.long_scalars: set[int] = set()
        self.repeated_text = 0  # characters of such scalars constructed again (through an alias)

    def construct(self, node: yaml.Node, depth: int = 0) -> Any:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            raise LoadError(
                mark_diag(
                    self.name,
                    "alias-bomb",
                    node.start_mark,
                    f"the document expands to more than {MAX_EXPANDED_NODES:,} nodes "
                    "through YAML aliases",
                    hint="remove the repeated `*alias` references",
                )
            )
        if depth > MAX_DEPTH:
            raise LoadError(too_deep(self.name, node.start_mark))
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) >= 64:
                self._count_repeat(node)
            return self._scalar(node)
        if id(node) in self.in_progress:
            raise LoadError(
                mark_diag(
                    self.name,
                    "recursive-alias",
                    node.start_mark,
                    "a YAML alias refers to a node that contains it",
                    hint="use $ref for recursive structures",
                )
            )
        self.in_progress.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag not in (_SEQ,):
                    raise LoadError(_tag_diag(self.name, node))
                return [self.construct(child, depth + 1) for child in node.value]
            if isinstance(node, yaml.MappingNode):
                if node.tag not in (_MAP,):
                    raise LoadError(_tag_diag(self.name, node))
                return self._mapping(node, depth)
        finally:
            self.in_progress.discard(id(node))
        raise AssertionError(f"unknown YAML node {node!r}")  # pragma: no cover

    def _count_repeat(self, node: yaml.ScalarNode) -> None:
        """Aliases repeating a long text (a megabyte anchored once, named a thousand times) count by
        its length: the document may expand to no more text than a file may hold."""
        if id(node) not in self.long_scalars:
            self.long_scalars.add(id(node))
            return
        self.repeated_text += len(node.value)
        if self.repeated_text > MAX_FILE_BYTES:
            raise LoadError(
                mark_diag(
                    self.name,
                    "alias-bomb",
                    node.start_mark,
                    f"the document expands to more than {MAX_FILE_BYTES // (1024 * 1024)} MiB "
                    "of text through YAML aliases",
                    hint="remove the repeated `*alias` references",
                )
            )

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise LoadError(
                    mark_diag(
                        self.name,
                        "complex-key",
                        key_node.start_mark,
                        "a mapping key must be a plain value, not a list or mapping",
                        hint="JSON and OpenAPI allow only string keys",
                    )
                )
            if key_node.tag == _MERGE:
                for source in self._merge_sources(value_node, depth):
                    for key, value in source.items():
                        merged.setdefault(key, value)
                continue
            key = key_node.value
            if key in result:
                raise LoadError(
                    mark_diag(
                        self.name,
                        "duplicate-key",
                        key_node.start_mark,
                        f"duplicate key {key!r} in this mapping",
                        hint="remove or rename one of the two entries",
                    )
                )
            result[key] = self.construct(value_node, depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_sources(self, node: yaml.Node, depth: int) -> list[dict[str, Any]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        constructed = [self.construct(source, depth + 1) for source in sources]
        if not all(isinstance(item, dict) for item in constructed):
            raise LoadError(
                mark_diag(
                    self.name,
                    "bad-merge",
                    node.start_mark,
                    "a `<<` merge key needs a mapping or a list of mappings",
                )
            )
        return constructed

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value: str = node.value
        tag = node.tag
        if tag == _STR:
            return value
        if tag == _BOOL:
            if not _BOOL_RE.match(value):
                raise LoadError(_tag_diag(self.name, node))
            return value.lower() == "true"
        if tag == _NULL:
            return None
        if tag == _INT:
            try:
                if value.startswith(("0x", "0o")):
                    # no digit limit for these bases
                    number = int(value[2:], 16 if value[1] == "x" else 8)
                    if abs(number) < _LONGEST_INT:
                        return number
                else:
                    return int(value)
            except ValueError:
                if len(value) <= digit_limit():
                    raise LoadError(_tag_diag(self.name, node)) from None
            raise LoadError(_long_number(self.name, node.start_mark, value))
        if tag == _FLOAT:
            special = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}.get(
                value.lower()
            )
            try:
                return float(special or value)
            except ValueError:
                raise LoadError(_tag_diag(self.name, node)) from None
        if tag == _MERGE:
            return value
        raise LoadError(_tag_diag(self.name, node))


_LONGEST_INT = 10 ** digit_limit()
"""Integers at least this large are refused: they could not be written back as text."""


def _long_number(name: str, mark: Any, value: str) -> Diagnostic:
    return mark_diag(
        name,
        "number-too-long",
        mark,
        f"the integer {value[:20]}... has more than {digit_limit():,} digits",
        hint="write such a value as a quoted string",
    )


def _tag_diag(name: str, node: yaml.Node) -> Diagnostic:
    return mark_diag(
        name,
        "unsupported-tag",
        node.start_mark,
        f"the YAML tag {node.tag!r} is not supported here",
        hint="API definitions use plain YAML values; remove the `!` tag",
    )


def _yaml_error(name: str, exc: yaml.YAMLError, text: str) -> Diagnostic:
    # a character YAML does not allow; located by its offset
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Diagnostic(
            Severity.ERROR,
            "yaml-syntax",
            f"not valid YAML: the control character U+{ord(character):04X} is not allowed",
            file=name,
            pointer="",
            line=line,
            column=column,
            hint="remove it, or write it escaped (\\u0001) inside a double-quoted string",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in str(problem):  # libyaml stops at 1,000 levels
        return too_deep(name, mark)
    context = getattr(exc, "context", None)
    message = f"{problem} ({context})" if context else str(problem)
    hint = "check indentation and quoting around this line"
    lines = text.splitlines()
    line_text = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "\\t" in message or "tab" in message or "\t" in line_text[: mark.column + 1 if mark else 0]:
        hint = "YAML does not allow tabs for indentation; use spaces"
    return mark_diag(name, "yaml-syntax", mark, f"not valid YAML: {message}", hint=hint)
