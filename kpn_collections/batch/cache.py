"""The result cache: keys over everything a result depends on, records signed with a key private to
the user, and checks that a served result still holds."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__, fast_json, fast_paths
from ..build.render import MAX_TEMPLATE_BYTES, package_templates_dir
from ..diagnostics import Diagnostic, Severity
from ..files import MAX_FILE_BYTES, read_limited
from ..refs.retrieve import Dependency

if TYPE_CHECKING:
    from .jobs import Job

    pass


def parse_json(content: bytes) -> Any:
    try:
        return fast_json.loads(content)
    except fast_json.NoAnswer:
        return json.loads(content)


@dataclass(frozen=True)
class CacheEntry:
    """A known conversion result: the collection file's content, the diagnostics, and the local
    paths it depended on (files read, as named and as resolved, and paths looked up and not
    found)."""

    content: bytes
    diagnostics: tuple[Diagnostic, ...]
    dependencies: tuple[Dependency, ...] = field(default=())


class Cache:
    """Results keyed on everything a conversion reads (see `key`); an entry is used only while every
    path it depended on still resolves to the same file with the same content (or is still absent),
    and only when this user's tool wrote it (records are signed, see `_signing_key`). Safe to delete
    at any time."""

    def __init__(self, directory: Path):
        self.directory = directory

    def key(self, job: Job) -> str | None:
        """The cache key of a job, or None when its inputs cannot be fingerprinted (the job is then
        not cached): the spec's bytes, its path as given, absolute and resolved, the working
        directory (names in messages are relative to it), the settings (paths absolute and resolved,
        template contents), the tool (version, code, packaged templates), the Python and libraries
        it runs on, and whether the fast paths are on."""
        content = _read_regular(job.spec)
        templates = _templates_hash(job.settings.templates_dir) if content is not None else None
        try:
            working_directory = os.getcwd()
        except OSError:
            return None
        if content is None or templates is None:
            return None
        settings = {
            k: _path_identity(v) if isinstance(v, Path) else v
            for k, v in asdict(job.settings).items()
        }
        from ..overlay import overlay_for

        overlay_file = overlay_for(job.spec, job.settings)
        overlay = _read_regular(overlay_file) if overlay_file is not None else b""
        if overlay is None:
            return None
        parts = {
            "version": __version__,
            "tool": _tool_hash(),
            "runtime": _runtime(),
            "settings": settings,
            "input": sha256(content),
            "name": str(job.spec),
            "path": _path_identity(job.spec),
            "cwd": working_directory,
            "templates": templates,
            "overlay": sha256(overlay),
            "fast-paths": fast_paths.fingerprint(),
        }  # a result made with fast paths off is kept apart from theirs
        return sha256(json.dumps(parts, sort_keys=True).encode("utf-8"))

    def lookup(self, key: str) -> CacheEntry | None:
        """The entry for `key` when present, written by this user's tool, well-formed and still
        valid; anything else (missing, truncated, edited, hand-made, a FIFO or device in its place)
        is None, never an error."""
        signing_key = _signing_key()
        record = _read_regular(self._file(key)) if signing_key is not None else None
        if signing_key is None or record is None:
            return None
        signature, _, body = record.partition(b"\n")
        if not hmac.compare_digest(signature, _signature(signing_key, key, body)):
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        parsed = _parse_record(data)
        if parsed is None:
            return None
        digest, size, diagnostics, dependencies = parsed
        if not all(_unchanged(dependency) for dependency in dependencies):
            return None
        content = _read_regular(self._content_file(key), limit=size)
        if content is None or len(content) != size or sha256(content) != digest:
            return None  # a half-copied or edited cache
        return CacheEntry(content, diagnostics, dependencies)

    def store(self, key: str, entry: CacheEntry) -> None:
        """Record an entry (best effort: a cache that cannot be written only costs speed). The
        collection is kept as the file it is, beside a small signed JSON record of the rest; the
        record is written last."""
        signing_key = _signing_key()
        if signing_key is None:
            return
        dependencies = [
            [
                os.path.abspath(d.path),
                None if d.target is None else os.path.abspath(d.target),
                d.sha256,
            ]
            for d in entry.dependencies
        ]
        data = {
            "content": {"sha256": sha256(entry.content), "size": len(entry.content)},
            "diagnostics": [d.as_dict() for d in entry.diagnostics],
            "dependencies": dependencies,
        }
        body = json.dumps(data, ensure_ascii=False).encode("utf-8", "backslashreplace")
        if not self._inside(self._file(key).parent):
            return
        try:
            _replace(self._content_file(key), entry.content)
            _replace(self._file(key), _signature(signing_key, key, body) + b"\n" + body)
        except (OSError, ValueError):
            pass

    def _inside(self, folder: Path) -> bool:
        """Whether a folder of the cache is a real folder in it: a `cache-dir` inside a repository
        may come with symbolic links (`.cache/ab -> /elsewhere`), which must not carry the cache's
        writes out of it."""
        try:
            if os.path.islink(folder):
                return False
            top = os.path.realpath(self.directory)
            return os.path.realpath(folder) == os.path.join(top, folder.name)
        except (OSError, ValueError):
            return False

    def _content_file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.postman_collection.json"

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"


SIGNING_KEY_FILE = "signing.key"
"""In the user's own cache directory (`default_cache_dir`): the random key that signs this user's
cache records."""

_RECORD_FORMAT = b"kpn-collections cache record 2\0"

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _signature(signing_key: bytes, key: str, body: bytes) -> bytes:
    """The record's HMAC, bound to its cache key (a genuine record moved to another key does not
    verify)."""
    return (
        hmac.new(signing_key, _RECORD_FORMAT + key.encode("ascii") + b"\0" + body, hashlib.sha256)
        .hexdigest()
        .encode("ascii")
    )


@functools.lru_cache(maxsize=1)
def _signing_key() -> bytes | None:
    """This user's cache signing key, made on first use: 32 random bytes in a file only the user may
    read, in the default cache directory, never in one a repository's settings can choose
    (`cache-dir`). A repository may commit a cache directory with crafted entries; without this key
    it cannot sign them, so they are ignored. A key file that is not a private regular file of this
    user (a symlink, readable by others) is replaced; None (nothing is cached) when no key can be
    read or made."""
    try:
        directory = default_cache_dir()
    except (RuntimeError, KeyError):  # no home directory to find
        return None
    path = directory / SIGNING_KEY_FILE
    key = _read_private(path)
    if key is not None:
        return key
    unusable = os.path.lexists(path)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mode 0600
        handle, temporary = tempfile.mkstemp(prefix=f".{SIGNING_KEY_FILE}.", dir=directory)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(secrets.token_bytes(32))
            if unusable:
                os.replace(temporary, path)
            else:
                try:
                    os.link(temporary, path)  # never replaces a key another process made meanwhile
                except FileExistsError:
                    pass
                except OSError:  # a file system without hard links
                    os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    except OSError:
        return None
    return _read_private(path)


def _read_private(path: Path) -> bytes | None:
    """A 32-byte key from a regular file (not a symlink) that this user owns and nobody else may
    read or write."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        owner = getattr(os, "geteuid", lambda: info.st_uid)()
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != owner
            or info.st_mode & 0o077
            or info.st_size != 32
        ):
            return None
        key = os.read(handle, 33)
        return key if len(key) == 32 else None
    except OSError:
        return None
    finally:
        os.close(handle)


def _read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes, read bounded; None for anything else
    (missing, a directory, a FIFO, a device such as /dev/zero, too big, unreadable)."""
    try:
        return read_limited(path, limit)
    except (OSError, ValueError):
        return None


def _replace(path: Path, data: bytes) -> None:
    """Write a cache file atomically, replacing whatever is there (never reading it: it may be a
    FIFO)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _parse_record(
    data: Any,
) -> tuple[str, int, tuple[Diagnostic, ...], tuple[Dependency, ...]] | None:
    """(content digest, content size, diagnostics, dependencies) from a cache record, checked like
    input: any other shape, type or value is None."""
    if not isinstance(data, dict) or set(data) != {"content", "diagnostics", "dependencies"}:
        return None
    content, diagnostics, dependencies = data["content"], data["diagnostics"], data["dependencies"]
    if not (
        isinstance(content, dict)
        and set(content) == {"sha256", "size"}
        and _is_digest(content["sha256"])
        and _is_count(content["size"])
        and isinstance(diagnostics, list)
        and isinstance(dependencies, list)
    ):
        return None
    parsed_diagnostics = [_parse_diagnostic(d) for d in diagnostics]
    parsed_dependencies = [_parse_dependency(d) for d in dependencies]
    if None in parsed_diagnostics or None in parsed_dependencies:
        return None
    return (
        content["sha256"],
        content["size"],
        tuple(d for d in parsed_diagnostics if d is not None),
        tuple(d for d in parsed_dependencies if d is not None),
    )


_DIAGNOSTIC_TEXTS = ("code", "message", "file", "pointer", "hint")


def _parse_diagnostic(data: Any) -> Diagnostic | None:
    if not isinstance(data, dict) or set(data) != {
        *_DIAGNOSTIC_TEXTS,
        "severity",
        "line",
        "column",
    }:
        return None
    if not all(isinstance(data[name], str) for name in _DIAGNOSTIC_TEXTS):
        return None
    if data["severity"] not in {s.value for s in Severity}:
        return None
    if not all(data[name] is None or _is_count(data[name]) for name in ("line", "column")):
        return None
    return Diagnostic(
        Severity(data["severity"]),
        data["code"],
        data["message"],
        file=data["file"],
        pointer=data["pointer"],
        line=data["line"],
        column=data["column"],
        hint=data["hint"],
    )


def _parse_dependency(data: Any) -> Dependency | None:
    if not isinstance(data, list) or len(data) != 3:
        return None
    path, target, digest = data
    if not _is_absolute_path(path) or (target is None) != (digest is None):
        return None
    if target is not None and not (_is_absolute_path(target) and _is_digest(digest)):
        return None
    return Dependency(Path(path), None if target is None else Path(target), digest)


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and _HEX_DIGEST.fullmatch(value) is not None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 62


def _is_absolute_path(value: Any) -> bool:
    return isinstance(value, str) and "\0" not in value and os.path.isabs(value)


def _unchanged(dependency: Dependency) -> bool:
    """Whether a path still resolves to the same file with the same bytes (or, looked up and absent
    before, still names no file)."""
    try:
        real = dependency.path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop: no file there
        return dependency.target is None
    if dependency.target is None:
        try:
            return not stat.S_ISREG(os.stat(real).st_mode)
        except (OSError, ValueError):
            return True
    if real != dependency.target:
        return False  # a retargeted symlink
    content = _read_regular(real)
    return content is not None and sha256(content) == dependency.sha256


def _path_identity(path: Path) -> list[str | None]:
    """A path as given, absolute and with every symlink resolved (None when it cannot be)."""
    try:
        resolved: str | None = str(path.resolve())
    except (OSError, RuntimeError):
        resolved = None
    return [str(path), os.path.abspath(path), resolved]


def _templates_hash(directory: Path | None) -> str | None:
    """The templates folder's names and contents, following symlinks within it as the template
    loader does (each directory once: a symlink cycle ends); None when a file cannot be read within
    the size limit or a symbolic link leads out of the folder (not cached; never followed, so a link
    to `/` is not read whole)."""
    if directory is None:
        return "packaged only"
    digest = hashlib.sha256()
    visited: set[tuple[int, int]] = set()
    try:
        top = os.stat(directory)
    except (OSError, ValueError):
        return "absent"
    if not stat.S_ISDIR(top.st_mode):
        return f"not a directory: {stat.S_IFMT(top.st_mode)}"
    visited.add((top.st_dev, top.st_ino))
    inside = os.path.realpath(directory)

    def links_out(
        path: str,
    ) -> bool:  # the loader never reads these: nor does the hash (`tpl/x -> /usr`)
        real = os.path.realpath(path)
        return real != inside and not real.startswith(inside.rstrip(os.sep) + os.sep)

    for current, directories, files in os.walk(directory, followlinks=True):
        kept = []
        for name in sorted(directories):
            try:
                if links_out(os.path.join(current, name)):
                    # not followed (a link to / would be hashed whole); what the loader makes of
                    return None
                    # names below it depends on files outside: not cached
                info = os.stat(os.path.join(current, name))
            except (OSError, ValueError):
                continue
            if (info.st_dev, info.st_ino) not in visited:
                visited.add((info.st_dev, info.st_ino))
                kept.append(name)
        directories[:] = kept
        for name in sorted(files):
            path = Path(current, name)
            relative = path.relative_to(directory).as_posix().encode("utf-8", "surrogateescape")
            try:
                if links_out(str(path)):
                    # the loader refuses it or, dangling, falls back: depends on files outside
                    return None
                mode = os.stat(path).st_mode
            except OSError:
                digest.update(relative + b"\0unreadable\0")
                continue
            if not stat.S_ISREG(mode):
                digest.update(relative + f"\0not a file {stat.S_IFMT(mode)}\0".encode())
                continue
            content = _read_regular(path)
            if content is None:
                return None
            digest.update(relative + b"\0" + sha256(content).encode() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _runtime() -> str:
    """The Python and the installed distributions (names and versions) the tool runs with: another
    version of a parser or validator may read or judge a definition differently."""
    installed: set[str] = set()
    for entry in sys.path:
        with contextlib.suppress(OSError):
            installed.update(
                n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info"))
            )
    return sha256(
        " ".join([sys.version, sys.executable, *sorted(installed)]).encode(
            "utf-8", "surrogateescape"
        )
    )


def default_cache_dir() -> Path:
    """`$KPN_COLLECTIONS_CACHE_DIR`, else `$XDG_CACHE_HOME/kpn-collections`, else
    `~/.cache/kpn-collections`."""
    explicit = os.environ.get("KPN_COLLECTIONS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpn-collections"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=1)
def _tool_hash() -> str:
    """The converter's own code and packaged templates: a changed tool never serves an older result,
    even when its version number stayed the same (a development install, a patched copy)."""
    package = Path(__file__).resolve().parents[1]  # the kpn_collections package
    templates = package_templates_dir().resolve()
    # a source checkout keeps them beside
    outside = None if templates.is_relative_to(package) else templates
    return sha256(f"{_tree_hash(package)} {_tree_hash(outside)}".encode())


def _tree_hash(directory: Path | None) -> str | None:
    if directory is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(
        p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        # one that cannot be read fails the conversion
        content = _read_regular(path, MAX_TEMPLATE_BYTES)
        digest.update(
            path.relative_to(directory).as_posix().encode("utf-8")
            + b"\0"
            + (b"\1" if content is None else b"\0" + content)
            + b"\0"
        )
    return digest.hexdigest()
