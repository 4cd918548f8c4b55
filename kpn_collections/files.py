"""Bounded reading of files that come from outside: a document, a referenced file, a collection on
disk.

Whatever a path names (a FIFO, `/dev/zero`, a 2 GB sparse file, a file that grows while it is read),
reading it ends within a bound: the file type and size are checked before opening, and no more is
read than allowed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 100 * 1024 * 1024
"""Largest file read (100 MiB); the biggest public API descriptions (Microsoft Graph beta, ~47 MB)
fit."""


class _FileProblem(OSError):
    def __str__(self) -> str:
        return str(self.strerror)  # the reason only: messages name the file themselves


class FileTooLarge(_FileProblem):
    """A file is larger than the limit it is read with (found before or while reading it)."""


class NotRegularFile(_FileProblem):
    """A path names a FIFO, a device, a socket or a directory: nothing that is read as a
    document."""


def read_limited(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them: the type and size are checked before the
    file is opened (a FIFO is never opened, so never waited on), and the read stops after `limit`
    bytes whatever the file claims (it may grow, or be swapped for another between the check and the
    read). Raises OSError: NotRegularFile, FileTooLarge, or what the system said."""
    _check_regular(os.stat(path), path, limit)
    descriptor = os.open(
        path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    )
    with os.fdopen(descriptor, "rb") as handle:
        # the file that was opened, not the one looked at
        _check_regular(os.fstat(descriptor), path, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(0, f"larger than {limit:,} bytes", str(path))
    return data


def read_head(path: str | Path, size: int) -> bytes:
    """The first `size` bytes of a regular file of any length, opened as read_limited opens one (a
    FIFO or a device never is). Raises OSError as read_limited does."""
    _check_regular(os.stat(path), path, limit=None)
    descriptor = os.open(
        path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    )
    with os.fdopen(descriptor, "rb") as handle:
        _check_regular(os.fstat(descriptor), path, limit=None)
        return handle.read(size)


def _check_regular(status: os.stat_result, path: str | Path, limit: int | None) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFile(0, f"not a regular file ({file_kind(status.st_mode)})", str(path))
    if limit is not None and status.st_size > limit:
        raise FileTooLarge(0, f"larger than {limit:,} bytes", str(path))


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for messages."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")
