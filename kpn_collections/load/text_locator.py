"""Fast path "text-locator": source positions read off the text itself, without composing a YAML
node tree (the reference, `SourceDocument._node_tree` in document.py): the root's first line, and
positions in JSON text found with the standard library's scanner."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from typing import Any

from ..diagnostics import pointer_unescape

_ROOT_CONTENT = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n)*([ \t]*)([^\s#%-])")


def root_position(text: str) -> tuple[int, int] | None:
    """Where the root node starts when the text opens with blank and comment lines, then content
    (what the YAML composer says, for the common case); None when unsure (directives, `---`, a
    leading `-`)."""
    match = _ROOT_CONTENT.match(text)
    if match is None:
        return None
    offset = match.start(2)
    return text.count("\n", 0, offset) + 1, len(match.group(1)) + 1


class JsonPositions:
    """Source positions in JSON text, found with the standard library's C scanner: only the
    containers on the way to a pointer are indexed (each once), their other members skipped at C
    speed, instead of composing the whole text as YAML for the same answer."""

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
