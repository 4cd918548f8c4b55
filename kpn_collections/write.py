"""Write stage: deterministic JSON text, written atomically and only when the content changed."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import fast_json
from .files import file_kind, read_limited


def dumps(collection: dict[str, Any]) -> str:
    """The collection as stable JSON text: two-space indent, UTF-8 kept, trailing newline."""
    return collection_bytes(collection).decode("utf-8")


def collection_bytes(collection: dict[str, Any]) -> bytes:
    """`dumps(collection)` encoded as UTF-8, made without the text in between (a big API's
    collection as Python text is what a conversion's peak memory would otherwise be made of)."""
    fast = fast_json.indented(collection, newline=True)
    if fast is not None:
        return fast
    # a lone surrogate (from a `\ud800` escape in a JSON definition) cannot be UTF-8: it is written
    # as the same JSON escape
    return (json.dumps(collection, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "backslashreplace"
    )


def json_text(value: Any) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)`: the reference text, written by the fast
    path where it can."""
    fast = fast_json.indented(value, newline=False)
    if fast is not None:
        return fast.decode("utf-8")
    return json.dumps(value, indent=2, ensure_ascii=False)


def dump_document(document: dict[str, Any], fmt: str) -> str:
    """An API definition as YAML (key order kept, YAML 1.1-ambiguous strings quoted) or JSON
    text."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return str(
        yaml.dump(
            document,
            Dumper=_NoAliasDumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=120,
        )
    )


class _NoAliasDumper(yaml.SafeDumper):
    """Writes a value shared by several places in full each time, never as a YAML anchor and
    alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class UnsafeOutput(OSError):
    """An output path that is not written: through a symlinked directory, or onto something not a
    file."""


def write_if_changed(path: Path, content: str | bytes, *, within: Path | None = None) -> bool:
    """Write `content` (text is written as UTF-8) to `path` atomically unless it already holds
    exactly that; True when written.

    Directories below `within` (the output directory) are created as needed and must not be symbolic
    links, so a link committed in the output tree cannot send the file elsewhere. A symbolic link at
    `path` itself is replaced (its target is left alone); a FIFO, device or directory there is
    refused (UnsafeOutput)."""
    # a lone surrogate (a `\ud800` escape in a JSON definition) is no UTF-8: written as that JSON
    # escape
    data = content.encode("utf-8", "backslashreplace") if isinstance(content, str) else content
    check_parents(path, within, create=True)
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        status = None
    if status is not None and not stat.S_ISLNK(status.st_mode) and not stat.S_ISREG(status.st_mode):
        raise UnsafeOutput(0, f"it is {file_kind(status.st_mode)}, not a file", str(path))
    if status is not None and stat.S_ISREG(status.st_mode) and status.st_size == len(data):
        try:
            if read_limited(path, len(data)) == data:
                return False
        except OSError:
            pass
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private; collections are ordinary files
        os.chmod(temp_name, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return True


def check_parents(path: Path, within: Path | None, *, create: bool = False) -> None:
    """Raise UnsafeOutput when a directory between `within` and `path` is a symbolic link or not a
    directory; with `create`, make the missing ones (one at a time, so each is looked at)."""
    if within is None or not path.parent.absolute().is_relative_to(within.absolute()):
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        return
    if create:
        within.mkdir(parents=True, exist_ok=True)
    current = within
    for part in path.parent.absolute().relative_to(within.absolute()).parts:
        current = current / part
        try:
            status = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return
            current.mkdir(exist_ok=True)
            status = os.lstat(current)
        if stat.S_ISLNK(status.st_mode):
            raise UnsafeOutput(
                0,
                f"{current} is a symbolic link inside the output directory {within}; nothing is "
                "written through it (replace the link by a directory, or choose another -o)",
                str(path),
            )
        if not stat.S_ISDIR(status.st_mode):
            raise UnsafeOutput(
                0, f"{current} is {file_kind(status.st_mode)}, not a directory", str(path)
            )


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
