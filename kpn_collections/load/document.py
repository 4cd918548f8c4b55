"""Load stage: bytes -> a JSON-compatible document, with source positions for diagnostics.

YAML is read with YAML 1.2 core-schema scalars (so `on`, `yes`, `no` and dates stay strings),
mapping keys kept as the text written (so `200:` is the key "200"), duplicate keys rejected with
line and column, and bounded alias expansion and nesting depth. JSON is parsed with the standard
library and only composed as YAML, lazily, when a diagnostic needs a line number.
"""

from __future__ import annotations

import bisect
import functools
import json
import json.decoder
import json.scanner
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..diagnostics import Diagnostic, Severity, pointer_unescape
from ..fast_paths import REFERENCE_ONLY
from ..files import MAX_FILE_BYTES, FileTooLarge, read_limited
from ..walk import container_levels

try:  # the C parser is much faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

try:
    import yaml_rs
except ImportError:  # pragma: no cover - yaml-rs ships wheels for the usual platforms
    yaml_rs = None  # type: ignore[assignment]

MAX_DEPTH = 200
"""Deepest nesting of mappings and sequences accepted; real specs stay far below it."""
MAX_EXPANDED_NODES = 2_000_000
"""Most nodes a document may expand to once YAML aliases are followed (guards against "billion
laughs")."""

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


class _CoreSchemaLoader(_BaseLoader):
    """PyYAML loader whose implicit tags follow the YAML 1.2 core schema."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012 - PyYAML API


for _tag, _regexp, _first in (
    (_BOOL, _BOOL_RE, list("tTfF")),
    (_INT, _INT_RE, list("-+0123456789")),
    (_FLOAT, _FLOAT_RE, list("-+0123456789.")),
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_MERGE, re.compile(r"^(?:<<)$"), ["<"]),
):
    _CoreSchemaLoader.add_implicit_resolver(_tag, _regexp, _first)


class LoadError(Exception):
    """The document could not be read; carries one located diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass
class SourceDocument:
    """A loaded document: its data, where it came from, and a way to find source lines by JSON
    pointer."""

    path: str
    data: dict[str, Any]
    text: str
    format: str  # "yaml" or "json"
    _root_node: yaml.Node | None = field(default=None, repr=False)
    _compose_failed: bool = field(default=False, repr=False)
    _json_positions: _JsonPositions | None = field(default=None, repr=False)

    def locate(self, pointer: str) -> tuple[int, int] | None:
        """1-based (line, column) of the value at `pointer`, or of its nearest located parent."""
        if not pointer and self.text and not REFERENCE_ONLY:
            root = _root_position(self.text)  # whole-document notes need no node tree
            if root is not None:
                return root
        if self.format == "json" and self.text and not REFERENCE_ONLY:
            if self._json_positions is None:
                self._json_positions = _JsonPositions(self.text)
            found = self._json_positions.locate(pointer)
            if found is not None:
                return found
        node = self._node_tree()
        if node is None:
            return None
        for token in (pointer_unescape(t) for t in pointer.split("/")[1:]) if pointer else ():
            child = _child_node(node, token)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _node_tree(self) -> yaml.Node | None:
        if self._root_node is None and not self._compose_failed:
            try:
                self._root_node = yaml.compose(self.text, Loader=_CoreSchemaLoader)
            except (yaml.YAMLError, RecursionError):
                self._compose_failed = True
        return self._root_node


_ROOT_CONTENT = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n)*([ \t]*)([^\s#%-])")


def _root_position(text: str) -> tuple[int, int] | None:
    """Where the root node starts when the text opens with blank and comment lines, then content
    (what the YAML composer says, for the common case); None when unsure (directives, `---`, a
    leading `-`)."""
    match = _ROOT_CONTENT.match(text)
    if match is None:
        return None
    offset = match.start(2)
    return text.count("\n", 0, offset) + 1, len(match.group(1)) + 1


class _JsonPositions:
    """Source positions in JSON text, found with the standard library's C scanner: only the
    containers on the way to a pointer are indexed (each once), their other members skipped at C
    speed. Composing the whole text as YAML for the same answer takes seconds on a big API
    description."""

    def __init__(self, text: str):
        self.text = text
        self.scan_once: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
        self.members: dict[
            int, dict[str, int] | list[int]
        ] = {}  # container offset -> member value offsets
        self.resume: dict[
            int, tuple[int | None, bool]
        ] = {}  # container offset -> where reading goes on
        self.ends: dict[
            int, int
        ] = {}  # container offset -> the offset after it, once read to the end

    def locate(self, pointer: str) -> tuple[int, int] | None:
        """(line, column) of the value at `pointer` or its nearest parent; None when the text is not
        plain JSON."""
        try:
            offset = self._skip_space(0)
            for token in (pointer_unescape(t) for t in pointer.split("/")[1:]) if pointer else ():
                members = self._members(offset, token)
                if isinstance(members, dict) and token in members:
                    offset = members[token]
                elif isinstance(members, list) and token.isdecimal() and int(token) < len(members):
                    offset = members[int(token)]
                else:
                    break
        except (StopIteration, ValueError, IndexError):
            return None  # JSON-like YAML (trailing commas, comments): the YAML locator answers
        line_start = self.text.rfind("\n", 0, offset) + 1
        return self.text.count("\n", 0, offset) + 1, offset - line_start + 1

    def _members(self, offset: int, wanted: str | None) -> dict[str, int] | list[int] | None:
        """The members of the container at `offset` read so far: up to `wanted` (a key, or an
        index), or all.

        Reading stops at the wanted member and resumes there for the next one, and a value whose
        members were partly read is skipped from where that reading stopped: the text is parsed
        about once, and only as far as asked (the definitions after the last located problem never
        are)."""
        opener = self.text[offset]
        if opener not in "{[":
            return None
        if offset not in self.members:
            self.members[offset] = {} if opener == "{" else []
            self.resume[offset] = (self._skip_space(offset + 1), False)
        members = self.members[offset]
        position, value_pending = self.resume[
            offset
        ]  # value_pending: the last member's value is still unread
        closer = "}" if opener == "{" else "]"
        while position is not None:
            if wanted is not None and _has_member(members, wanted):
                break
            if value_pending:
                position = self._skip_space(self._skip_value(position))
                if self.text[position] == ",":
                    position = self._skip_space(position + 1)
                value_pending = False
                continue
            if self.text[position] == closer:
                self.ends[offset] = position + 1
                position = None
                break
            if isinstance(members, dict):
                key, position = json.decoder.scanstring(self.text, position + 1)  # type: ignore[attr-defined]
                position = self._skip_space(position)
                if self.text[position] != ":":
                    raise ValueError("expected ':'")
                position = self._skip_space(position + 1)
                members.setdefault(key, position)
            else:
                members.append(position)
            value_pending = True
        self.resume[offset] = (position, value_pending)
        return members

    def _skip_value(self, position: int) -> int:
        """Where the value at `position` ends."""
        if position in self.members:
            self._members(position, None)
            return self.ends[position]
        _, end = self.scan_once(self.text, position)
        return int(end)

    def _skip_space(self, position: int) -> int:
        while self.text[position] in " \t\r\n":
            position += 1
        return position


def _has_member(members: dict[str, int] | list[int], wanted: str) -> bool:
    if isinstance(members, dict):
        return wanted in members
    return wanted.isdecimal() and wanted.isascii() and int(wanted) < len(members)


def _child_node(node: yaml.Node, token: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == token:
                return value
        return None
    if (
        isinstance(node, yaml.SequenceNode)
        and token.isdecimal()
        and token.isascii()
        and int(token) < len(node.value)
    ):
        return node.value[int(token)]
    return None


def load_document(path: str | Path, *, display_name: str | None = None) -> SourceDocument:
    """Read a YAML or JSON file into a SourceDocument, raising LoadError with a located message."""
    name = display_name or str(path)
    try:
        raw = read_limited(path)
    except FileTooLarge:
        raise LoadError(_too_big(name)) from None
    except OSError as exc:
        raise LoadError(
            _diag(
                name,
                "read-failed",
                f"cannot read the file: {exc.strerror or exc}",
                hint="check the path and permissions",
            )
        ) from None
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> SourceDocument:
    """Parse bytes (UTF-8, optional BOM) as JSON or YAML into a SourceDocument."""
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(_too_big(name))
    if b"\x00" in raw[:8192]:
        raise LoadError(
            _diag(
                name,
                "not-text",
                "the file is binary, not a YAML or JSON document",
                hint="export the API from SwaggerHub as YAML or JSON",
            )
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            _diag(
                name,
                "not-utf8",
                f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                line=line,
                hint="save the file as UTF-8",
            )
        ) from None
    if not text.strip():
        raise LoadError(
            _diag(name, "empty", "the file is empty", hint="export the API definition again")
        )
    stripped = text.lstrip()
    json_error: json.JSONDecodeError | None = None
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")):
        data, json_error = _parse_json(text)
        if json_error is None:
            if _depth_exceeds(data, MAX_DEPTH):
                raise LoadError(
                    _diag(
                        name,
                        "too-deep",
                        f"the document nests deeper than {MAX_DEPTH} levels",
                        hint="flatten the structure or use $ref",
                    )
                )
            return _checked_root(SourceDocument(name, data, text, "json"))
    try:
        data = _fast_yaml(text)
        return _checked_root(
            SourceDocument(name, _parse_yaml(text, name) if data is None else data, text, "yaml")
        )
    except LoadError as exc:
        if (
            json_error is None
            or json_error is _NOT_PLAIN_JSON
            or not name.lower().endswith(".json")
            or exc.diagnostic.code != "yaml-syntax"
        ):
            raise
        raise LoadError(
            _diag(
                name,
                "json-syntax",
                f"not valid JSON: {json_error.msg}",
                line=json_error.lineno,
                column=json_error.colno,
                hint="check the commas, quotes and brackets here",
            )
        ) from None


def _depth_exceeds(data: Any, limit: int) -> bool:
    """True when lists/dicts nest deeper than `limit` (checked level by level, without
    recursion)."""
    return any(depth > limit for depth, _ in enumerate(container_levels(data)))


class _DuplicateJsonKey(Exception):
    pass


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateJsonKey(
            next(key for index, (key, _) in enumerate(pairs) if key in dict(pairs[:index]))
        )
    return result


_NOT_PLAIN_JSON = json.JSONDecodeError("not plain JSON", "", 0)


def _parse_json(text: str) -> tuple[Any, json.JSONDecodeError | None]:
    """(data, None), or (None, the error): then the YAML parser reads it (YAML is a superset of
    JSON) or explains what is wrong (duplicate keys, nesting depth, with their positions)."""
    try:
        return json.loads(text, object_pairs_hook=_json_pairs), None
    except json.JSONDecodeError as exc:
        return None, exc
    except (ValueError, _DuplicateJsonKey, RecursionError):
        return None, _NOT_PLAIN_JSON


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
    """Whether `text` holds a character of _YAML_REFUSED (for ASCII text, found by bytes.translate:
    ten times faster than the search)."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_ALLOWED))
    return _YAML_REFUSED.search(text) is not None


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _has_long_digit_run(text: str) -> bool:
    """Whether `text` has more digits in a row than an integer may have: yaml-rs would read them as
    a number that cannot be written back as text; PyYAML's reading is then refused with a located
    error. (A search for zeros after a translation: 2 ms a megabyte, where a regular expression
    takes ten.)"""
    return (
        text.encode("utf-8", "surrogatepass")
        .translate(_DIGITS_AS_ZERO)
        .find(b"0" * (_digit_limit() + 1))
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


def _fast_yaml(text: str) -> Any:
    """The document as yaml-rs reads it, when that is sure to be what `_parse_yaml` returns; else
    None.

    yaml-rs (Rust) reads a big definition about fifteen times faster than PyYAML's C loader, whose
    node objects and Python-level tag resolution cost most of a YAML conversion. It is used only for
    text that `_unsure_for_yaml_rs` finds nothing risky in, whose root is a mapping, whose keys are
    text (or integers, written back as the text they were) and that nests no deeper than MAX_DEPTH;
    everything else, errors included, goes to PyYAML, which also locates problems.
    `tests/test_fast_paths.py` compares the two.
    """
    if yaml_rs is None or REFERENCE_ONLY or _unsure_for_yaml_rs(text):
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
    """Every index of any of `characters` in `text`, in order (str.find is many times faster at this
    than a regular expression searching for a character class). Several hints on one line are fine
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


def _parse_yaml(text: str, name: str) -> Any:
    loader = _CoreSchemaLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "single document" in str(exc):
            raise LoadError(
                _mark_diag(
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
        raise LoadError(
            _diag(
                name,
                "too-deep",
                f"the document nests deeper than {MAX_DEPTH} levels",
                hint="flatten the structure or use $ref",
            )
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise LoadError(
            _diag(
                name,
                "empty",
                "the file holds no YAML document",
                hint="export the API definition again",
            )
        )
    return _Constructor(name).construct(root)


def _checked_root(document: SourceDocument) -> SourceDocument:
    if not isinstance(document.data, dict):
        kind = (
            "a list"
            if isinstance(document.data, list)
            else f"a single value ({type(document.data).__name__})"
        )
        raise LoadError(
            _diag(
                document.path,
                "not-a-mapping",
                f"the document is {kind}, not a mapping",
                line=1,
                hint="an OpenAPI document starts with `openapi:` or `swagger:`",
            )
        )
    return document


class _Constructor:
    """Turns a composed YAML node graph into JSON-compatible Python data, with the checks described
    above."""

    def __init__(self, name: str):
        self.name = name
        self.expanded = 0
        self.in_progress: set[int] = set()
        self.long_scalars: set[int] = (
            set()
        )  # scalar nodes of 64 characters or more, constructed once already
        self.repeated_text = 0  # characters of such scalars constructed again (through an alias)

    def construct(self, node: yaml.Node, depth: int = 0) -> Any:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            raise LoadError(
                _mark_diag(
                    self.name,
                    "alias-bomb",
                    node.start_mark,
                    f"the document expands to more than {MAX_EXPANDED_NODES:,} nodes "
                    "through YAML aliases",
                    hint="remove the repeated `*alias` references",
                )
            )
        if depth > MAX_DEPTH:
            raise LoadError(
                _mark_diag(
                    self.name,
                    "too-deep",
                    node.start_mark,
                    f"the document nests deeper than {MAX_DEPTH} levels",
                    hint="flatten the structure or use $ref",
                )
            )
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) >= 64:
                self._count_repeat(node)
            return self._scalar(node)
        if id(node) in self.in_progress:
            raise LoadError(
                _mark_diag(
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
                _mark_diag(
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
                    _mark_diag(
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
                    _mark_diag(
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
                _mark_diag(
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
                    number = int(
                        value[2:], 16 if value[1] == "x" else 8
                    )  # no digit limit for these bases
                    if abs(number) < _LONGEST_INT:
                        return number
                else:
                    return int(value)
            except ValueError:
                if len(value) <= _digit_limit():
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


def _digit_limit() -> int:
    """The most decimal digits an integer may have (Python's limit on turning text into int and
    back)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return int(limit) or 4300  # 0: no limit in this Python; JSON readers elsewhere still have one


_LONGEST_INT = 10 ** _digit_limit()
"""Integers at least this large are refused: they could not be written back as text."""


def _long_number(name: str, mark: Any, value: str) -> Diagnostic:
    return _mark_diag(
        name,
        "number-too-long",
        mark,
        f"the integer {value[:20]}... has more than {_digit_limit():,} digits",
        hint="write such a value as a quoted string",
    )


def _tag_diag(name: str, node: yaml.Node) -> Diagnostic:
    return _mark_diag(
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
            name,
            "",
            line,
            column,
            "remove it, or write it escaped (\\u0001) inside a double-quoted string",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in str(problem):  # libyaml stops at 1,000 levels
        return _mark_diag(
            name,
            "too-deep",
            mark,
            f"the document nests deeper than {MAX_DEPTH} levels",
            hint="flatten the structure or use $ref",
        )
    context = getattr(exc, "context", None)
    message = f"{problem} ({context})" if context else str(problem)
    hint = "check indentation and quoting around this line"
    lines = text.splitlines()
    line_text = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "\\t" in message or "tab" in message or "\t" in line_text[: mark.column + 1 if mark else 0]:
        hint = "YAML does not allow tabs for indentation; use spaces"
    return _mark_diag(name, "yaml-syntax", mark, f"not valid YAML: {message}", hint=hint)


def _mark_diag(name: str, code: str, mark: Any, message: str, *, hint: str = "") -> Diagnostic:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Diagnostic(Severity.ERROR, code, message, name, "", line, column, hint)


def _diag(
    name: str,
    code: str,
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    hint: str = "",
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, name, "", line, column, hint)


def _too_big(name: str) -> Diagnostic:
    return _diag(
        name,
        "too-large",
        f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
        hint="split the definition into files joined with $ref",
    )
