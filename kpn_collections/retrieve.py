"""Retrieval of the documents that `$ref`s point to: the only code that reads referenced files or the network.

The bundle stage never does I/O itself; it calls a `Retriever` (any callable from a document URI to its
bytes). `build_retriever` makes the one the CLI uses, from the settings:

- `file:` URIs are read from disk, but only inside the reference root (a path that escapes it, also through
  a symlink, is refused before anything is opened);
- `http(s):` URIs are looked up in the mirror directory first, then fetched over HTTPS, but only when remote
  references are explicitly allowed. Without that, they are refused with a message naming both fixes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import yaml

from .files import MAX_FILE_BYTES, FileTooLarge, read_limited

if TYPE_CHECKING:
    from .settings import Settings

MAX_REMOTE_BYTES = 10 * 1024 * 1024
"""Largest referenced document fetched over HTTPS."""

REMOTE_TIMEOUT_S = 15.0
"""Seconds a remote fetch may take (connect and each read)."""

API_KEY_VARIABLE = "SWAGGERHUB_API_KEY"
"""Environment variable holding the SwaggerHub API key sent with remote fetches (never written anywhere)."""

MIRROR_PREFIXES_FILE = "prefixes.yaml"
"""File in a mirror directory that maps URL prefixes of other hosts to paths in the mirror."""

MIRROR_SUFFIXES = ("", ".yaml", ".yml", ".json")
"""Tried in this order after the URL's path when looking a document up in a mirror."""


class RetrievalError(Exception):
    """A referenced document could not be retrieved; code, message and hint become a diagnostic."""

    def __init__(self, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class MirrorConfigError(Exception):
    """The mirror directory or its prefixes file is unusable (a usage error, reported before any work)."""


@dataclass(frozen=True)
class Retrieved:
    """A referenced document's bytes and the name diagnostics use for it."""

    content: bytes
    display: str
    path: Path | None = None  # the local file it was read from (None when fetched over the network)


Retriever = Callable[[str], Retrieved]
"""Document URI (no fragment) -> its content, or RetrievalError."""


class RemoteFetcher(Protocol):
    """Fetches one HTTPS URL; injected so tests can prove when the network is (not) touched."""

    def __call__(self, url: str) -> bytes: ...


def file_uri(path: Path) -> str:
    """The absolute `file:` URI of a local path (symlinks resolved)."""
    return path.resolve().as_uri()


def uri_to_path(uri: str) -> Path:
    """The local path of a `file:` URI (percent-escapes decoded)."""
    return Path(unquote(urlsplit(uri).path))


@dataclass
class FileRetriever:
    """Reads local files, refusing any whose real path lies outside `root`."""

    root: Path
    display_base: tuple[Path, str] | None = None  # (directory, how to show it) for friendly file names

    def __call__(self, uri: str) -> Retrieved:
        path = uri_to_path(uri)
        root = self.root.resolve()
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise RetrievalError("ref-file-unreadable", f"cannot resolve the path {path}",
                                 "fix the symbolic links on the way to the file") from None
        if not real.is_relative_to(root):
            raise RetrievalError(
                "ref-outside-root",
                f"{self._show(path)} is outside the reference root {_shown(root)}; it was not read",
                "keep referenced files inside the spec's directory, or widen the root with --ref-root DIR")
        try:
            content = read_limited(real)
        except FileNotFoundError:
            raise RetrievalError("ref-file-missing", f"the referenced file {self._show(path)} does not exist",
                                 "correct the path (it is relative to the file that holds the $ref)") from None
        except FileTooLarge:
            raise _too_large(self._show(path)) from None
        except OSError as exc:
            raise RetrievalError("ref-file-unreadable",
                                 f"cannot read {self._show(path)}: {exc.strerror or exc}",
                                 "check the file's permissions") from None
        return Retrieved(content, self._show(path), real)

    def _show(self, path: Path) -> str:
        """The path as the user knows it: beside the input file's name as given, else absolute."""
        if self.display_base is not None:
            directory, shown = self.display_base
            relative = os.path.relpath(path, directory)
            if not relative.startswith(".."):
                return Path(os.path.normpath(os.path.join(shown, relative))).as_posix()
        return str(path)


@dataclass
class MirrorRetriever:
    """Looks remote documents up in a local directory laid out as `DIR/host/path[.yaml|.yml|.json]`.

    `DIR/prefixes.yaml`, when present, maps URL prefixes to paths in the mirror (for hosts whose URLs do not
    map onto files one to one), e.g. `https://schemas.example.com/common/: example-common/`.
    """

    directory: Path
    prefixes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, directory: Path) -> MirrorRetriever:
        """A mirror for `directory`, reading its prefixes file; MirrorConfigError when unusable."""
        if not directory.is_dir():
            raise MirrorConfigError(f"the ref mirror {directory} is not a directory")
        prefixes: dict[str, str] = {}
        prefixes_file = directory / MIRROR_PREFIXES_FILE
        if prefixes_file.exists():
            try:
                data: Any = yaml.safe_load(read_limited(prefixes_file).decode("utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise MirrorConfigError(f"{prefixes_file}: cannot read it: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in data.items()):
                raise MirrorConfigError(f"{prefixes_file}: must map URL prefixes to paths in the mirror, "
                                        "e.g. 'https://schemas.example.com/common/: example-common/'")
            prefixes = dict(data)
        return cls(directory, prefixes)

    def find(self, url: str) -> Path | None:
        """The mirrored file for `url`, or None."""
        root = self.directory.resolve()
        for base in self._candidates(url):
            for suffix in MIRROR_SUFFIXES:
                candidate = Path(str(base) + suffix) if suffix else base
                try:
                    real = candidate.resolve()
                except (OSError, RuntimeError):
                    continue
                if real.is_relative_to(root) and real.is_file():
                    return real
        return None

    def _candidates(self, url: str) -> list[Path]:
        candidates = []
        for prefix in sorted(self.prefixes, key=len, reverse=True):
            if url.startswith(prefix):
                rest = unquote(urlsplit(url[len(prefix):]).path).lstrip("/")
                mapped = self.directory / self.prefixes[prefix]
                candidates.append(mapped / rest if rest else mapped)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower() + (f"_{parts.port}" if parts.port else "")
        path = unquote(parts.path).strip("/")
        if host and path:
            candidates.append(self.directory / host / path)
        return candidates


def _too_large(shown: str) -> RetrievalError:
    return RetrievalError("ref-file-too-large",
                          f"the referenced file {shown} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; "
                          "it was not read", "split it into smaller files joined with $ref")


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return Path(relative).as_posix() if not relative.startswith("..") else str(path)


def https_fetch(url: str, *, api_key: str | None = None, timeout: float = REMOTE_TIMEOUT_S,
                max_bytes: int = MAX_REMOTE_BYTES) -> bytes:
    """GET `url` over HTTPS (no other scheme, also after redirects), within `timeout` and `max_bytes`."""
    if urlsplit(url).scheme != "https":
        raise RetrievalError("ref-remote-insecure", f"{url} is not an https URL; it was not fetched",
                             "use the https URL, or put the document in the --ref-mirror directory")
    headers = {"Accept": "application/yaml, application/json;q=0.9",
               "User-Agent": "kpn-collections"}
    if api_key and "swaggerhub" in (urlsplit(url).hostname or ""):
        headers["Authorization"] = api_key  # SwaggerHub's registry API takes the bare key; other hosts: never
    import urllib.error  # only now: most conversions fetch nothing, and the HTTP stack takes a while to load
    import urllib.request

    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.build_opener(_https_only_redirects()).open(request, timeout=timeout) as response:
            content: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        hint = ("set SWAGGERHUB_API_KEY to a key that can read it" if exc.code in (401, 403)
                else "check the URL, or mirror the document with --ref-mirror")
        raise RetrievalError("ref-fetch-failed", f"fetching {url} failed: HTTP {exc.code}", hint) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetrievalError("ref-fetch-failed", f"fetching {url} failed: {reason}",
                             "check the network, or mirror the document with --ref-mirror") from None
    if len(content) > max_bytes:
        raise RetrievalError("ref-fetch-too-large", f"{url} is larger than {max_bytes} bytes; it was not used",
                             "mirror the document with --ref-mirror")
    return content


def _https_only_redirects() -> Any:
    """A redirect handler that follows https redirects only, dropping the API key when the host changes."""
    import urllib.error
    import urllib.request

    class HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                             newurl: str) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme != "https":
                raise urllib.error.URLError(f"redirect to a non-https URL {newurl}")
            redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
            if redirected is not None and urlsplit(newurl).hostname != urlsplit(req.full_url).hostname:
                redirected.remove_header("Authorization")  # the API key goes to the host it was meant for only
            return redirected

    return HttpsOnlyRedirects


def default_remote_fetcher() -> RemoteFetcher:
    """https_fetch with the SwaggerHub API key from the environment, read at call time."""
    def fetch(url: str) -> bytes:
        return https_fetch(url, api_key=os.environ.get(API_KEY_VARIABLE) or None)
    return fetch


@dataclass
class DefaultRetriever:
    """Local files within the root; remote URLs from the mirror, then (only if allowed) over HTTPS."""

    files: FileRetriever
    mirror: MirrorRetriever | None = None
    allow_remote: bool = False
    fetch_remote: RemoteFetcher = field(default_factory=default_remote_fetcher)

    def __call__(self, uri: str) -> Retrieved:
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "file":
            return self.files(uri)
        if scheme not in ("http", "https"):
            raise RetrievalError("ref-unsupported-scheme", f"cannot retrieve {uri}: unsupported URI scheme",
                                 "use a relative file path or an https URL")
        if self.mirror is not None:
            mirrored = self.mirror.find(uri)
            if mirrored is not None:
                try:
                    return Retrieved(read_limited(mirrored), _shown(mirrored), mirrored)
                except FileTooLarge:
                    raise _too_large(_shown(mirrored)) from None
                except OSError as exc:
                    raise RetrievalError("ref-file-unreadable", f"cannot read {mirrored}: {exc.strerror or exc}",
                                         "check the file's permissions") from None
        if not self.allow_remote:
            where = "is not in the mirror " + str(self.mirror.directory) if self.mirror else "is remote"
            raise RetrievalError(
                "ref-remote-not-allowed",
                f"{uri} {where}, and remote references are not fetched by default",
                "save the document under a --ref-mirror DIR (as DIR/<host>/<path>.yaml), "
                "or pass --allow-remote-refs to fetch it (SWAGGERHUB_API_KEY is sent when set)")
        return Retrieved(self.fetch_remote(uri), uri)


def build_retriever(settings: Settings, spec: Path, *, display: str | None = None,
                    fetch_remote: RemoteFetcher | None = None) -> DefaultRetriever:
    """The retriever for one input file: files within the reference root (default: the file's directory),
    remote documents from the mirror, and over HTTPS only when the settings allow it.

    Raises MirrorConfigError when the mirror directory is unusable.
    """
    directory = spec.absolute().parent
    shown = os.path.dirname(display if display is not None else str(spec))
    files = FileRetriever(settings.ref_root or directory, display_base=(directory, shown))
    mirror = MirrorRetriever.open(settings.ref_mirror) if settings.ref_mirror is not None else None
    retriever = DefaultRetriever(files, mirror, settings.allow_remote_refs)
    if fetch_remote is not None:
        retriever.fetch_remote = fetch_remote
    return retriever
