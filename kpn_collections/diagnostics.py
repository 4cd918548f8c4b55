"""Problems as values: every stage reports what it found as Diagnostics; only the CLI decides exit
codes."""

from __future__ import annotations

import enum
import re
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TypeAlias

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
EXIT_TERMINATED = 143  # SIGTERM, as shells report it


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(text: str) -> str:
    """`text` with control characters (newlines, escape sequences, bidirectional overrides) written
    as backslash escapes, so that a file name cannot break a message line or rewrite the
    terminal."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _NAMED_ESCAPES.get(character) or (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")


class Severity(enum.Enum):
    """How bad a problem is: errors stop a conversion, warnings do not (unless --strict)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Diagnostic:
    """One problem, located in its source document; the fields after `message` are named in a
    call."""

    severity: Severity
    code: str
    message: str
    _: KW_ONLY
    file: str = ""
    pointer: str = ""
    line: int | None = None
    column: int | None = None
    hint: str = ""

    def located(self, line: int | None, column: int | None) -> Diagnostic:
        """Return a copy with the source position filled in."""
        return replace(self, line=line, column=column)

    def format(self) -> str:
        """Render as `file:line:col: severity [code] pointer: message (hint: ...)`."""
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.severity.value} [{self.code}]"
        if self.pointer:
            text += f" at #{self.pointer}"
        text += f": {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return escaped(text)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view for machine-readable reports."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "pointer": self.pointer,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class Diagnostics:
    """An ordered collection of problems that stages append to."""

    file: str = ""
    items: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        *,
        pointer: str = "",
        hint: str = "",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        """Record one problem for this collection's file."""
        self.items.append(
            Diagnostic(
                severity,
                code,
                message,
                file=self.file,
                pointer=pointer,
                line=line,
                column=column,
                hint=hint,
            )
        )

    def error(self, code: str, message: str, *, pointer: str = "", hint: str = "") -> None:
        """Record an error."""
        self.add(Severity.ERROR, code, message, pointer=pointer, hint=hint)

    def warning(self, code: str, message: str, *, pointer: str = "", hint: str = "") -> None:
        """Record a warning."""
        self.add(Severity.WARNING, code, message, pointer=pointer, hint=hint)

    def info(self, code: str, message: str, *, pointer: str = "", hint: str = "") -> None:
        """Record an informational note (shown with --verbose)."""
        self.add(Severity.INFO, code, message, pointer=pointer, hint=hint)

    @property
    def has_errors(self) -> bool:
        """True when any error was recorded."""
        return any(d.severity is Severity.ERROR for d in self.items)


def pointer_escape(token: str | int) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_join(*tokens: str | int) -> str:
    """Build a JSON pointer from raw tokens."""
    return "".join("/" + pointer_escape(t) for t in tokens)


Link: TypeAlias = tuple["Link | None", "str | int"]
"""Where a value sits in a document: (its parent's link, its key or index); None at the root. Walks
over a whole document carry links and build a JSON pointer (`link_pointer`) only for the few values
they report, not for each of the million values of a big API description."""


def link_pointer(link: Link | None, prefix: str = "") -> str:
    """The JSON pointer of a linked place (below `prefix`)."""
    tokens: list[str | int] = []
    while link is not None:
        link, token = link
        tokens.append(token)
    return prefix + pointer_join(*reversed(tokens))


def pointer_unescape(token: str) -> str:
    """Unescape one JSON-pointer reference token."""
    return token.replace("~1", "/").replace("~0", "~")
