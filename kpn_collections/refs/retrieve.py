"""Retrieval of the documents that `$ref`s point to: the only code that reads referenced files or
the network.

The bundle stage never does I/O itself; it calls a `Retriever` (any callable from a document URI to
its bytes). `build_retriever` makes the one the CLI uses, from the settings:

- `file:` URIs are read from disk, but only inside the reference root (a path that escapes it, also
  through a symlink, is refused before anything is opened);
- `http(s):` URIs are looked up in the mirror directory first, then fetched over HTTPS, but only
  when remote references are explicitly allowed. Without that, they are refused with a message
  naming both fixes.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import yaml

from ..credentials import strip_url_credentials
from ..files import MAX_FILE_BYTES, FileTooLarge, read_limited
from ..settings import SWAGGERHUB_HOST

if TYPE_CHECKING:
    import socket

    from ..settings import Settings

MAX_REMOTE_BYTES = 10 * 1024 * 1024
"""Largest referenced document fetched over HTTPS."""

REMOTE_TIMEOUT_S = 15.0
"""Seconds a remote fetch may wait for the connection or for more data."""

REMOTE_DEADLINE_S = 30.0
"""Seconds a remote fetch may take in all, redirects included (a server dripping bytes cannot hold a
run)."""

MAX_REMOTE_HEADER_BYTES = 256 * 1024
"""Room for the status line, headers and chunk framing of a response, beyond MAX_REMOTE_BYTES of
content."""

MAX_REDIRECTS = 5
"""Redirects followed per remote fetch."""

API_KEY_VARIABLE = "SWAGGERHUB_API_KEY"
"""Environment variable holding the SwaggerHub API key sent with remote fetches (never written
anywhere)."""

MIRROR_PREFIXES_FILE = "prefixes.yaml"
"""File in a mirror directory that maps URL prefixes of other hosts to paths in the mirror."""
MAX_PREFIXES_BYTES = 1024 * 1024
"""Largest prefixes file read: a map of a few hosts (a much bigger one would be slow to load, for
every spec)."""
MAX_PREFIXES = 10_000
"""Most prefixes in it (each `$ref` to a URL is compared with every one)."""

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
    """The mirror directory or its prefixes file is unusable (a usage error, reported before any
    work)."""


@dataclass(frozen=True)
class Dependency:
    """A local path a retrieval relied on, as it was named (before symlinks): what it resolved to
    and the SHA-256 of the bytes read there; or, with both None, a path looked up and not used
    (absent, not a file), where a file appearing would change the result (a mirror candidate that
    would take precedence)."""

    path: Path
    target: Path | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Retrieved:
    """A referenced document's bytes and the name diagnostics use for it."""

    content: bytes
    display: str
    path: Path | None = None  # the local file it was read from (None when fetched over the network)
    consulted: tuple[
        Dependency, ...
    ] = ()  # every local path the retrieval depended on (for the batch cache)


Retriever = Callable[[str], Retrieved]
"""Document URI (no fragment) -> its content, or RetrievalError."""


TlsWrapper = Callable[["socket.socket", str], "socket.socket"]
"""(connected socket, host name) -> the socket speaking TLS to that host."""


class RemoteFetcher(Protocol):
    """Fetches one HTTPS URL; injected so tests can prove when the network is (not) touched."""

    def __call__(self, url: str) -> bytes: ...


def host_problem(host: str) -> str | None:
    """Why `host` is no bare host name (`swaggerhub.example.com`), or None."""
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", host):
        return (
            f"{host!r} must be a host name such as swaggerhub.example.com (no scheme, port or path)"
        )
    return None


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
    # (directory, how to show it) for friendly file names
    display_base: tuple[Path, str] | None = None

    def __call__(self, uri: str) -> Retrieved:
        path = uri_to_path(uri)
        root = self.root.resolve()
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise RetrievalError(
                "ref-file-unreadable",
                f"cannot resolve the path {path}",
                "fix the symbolic links on the way to the file",
            ) from None
        if not real.is_relative_to(root):
            raise RetrievalError(
                "ref-outside-root",
                f"{self._show(path)} is outside the reference root {_shown(root)}; it was not read",
                "keep referenced files inside the spec's directory, or widen the root with"
                " --ref-root DIR",
            )
        try:
            content = read_limited(real)
        except FileNotFoundError:
            raise RetrievalError(
                "ref-file-missing",
                f"the referenced file {self._show(path)} does not exist",
                "correct the path (it is relative to the file that holds the $ref)",
            ) from None
        except FileTooLarge:
            raise _too_large(self._show(path)) from None
        except OSError as exc:
            raise RetrievalError(
                "ref-file-unreadable",
                f"cannot read {self._show(path)}: {exc.strerror or exc}",
                "check the file's permissions",
            ) from None
        return Retrieved(
            content, self._show(path), real, (Dependency(path, real, _sha256(content)),)
        )

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

    `DIR/prefixes.yaml`, when present, maps URL prefixes to paths in the mirror (for hosts whose
    URLs do not map onto files one to one), e.g. `https://schemas.example.com/common/:
    example-common/`.
    """

    directory: Path
    prefixes: dict[str, str] = field(default_factory=dict)
    prefixes_read: Dependency | None = None  # the prefixes file as read (or looked up and absent)

    @classmethod
    def open(cls, directory: Path) -> MirrorRetriever:
        """A mirror for `directory`, reading its prefixes file; MirrorConfigError when unusable."""
        if not directory.is_dir():
            raise MirrorConfigError(f"the ref mirror {directory} is not a directory")
        prefixes: dict[str, str] = {}
        prefixes_file = directory / MIRROR_PREFIXES_FILE
        read = Dependency(prefixes_file)
        if prefixes_file.exists():
            try:
                raw = read_limited(prefixes_file, MAX_PREFIXES_BYTES)
                read = Dependency(prefixes_file, prefixes_file.resolve(), _sha256(raw))
                data: Any = yaml.load(
                    raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                )
            except FileTooLarge:
                raise MirrorConfigError(
                    f"{prefixes_file}: cannot read it: larger than {MAX_PREFIXES_BYTES // 1024} "
                    "KiB; a prefixes file maps a few URL prefixes"
                ) from None
            except (OSError, RuntimeError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise MirrorConfigError(f"{prefixes_file}: cannot read it: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise MirrorConfigError(
                    f"{prefixes_file}: must map URL prefixes to paths in the mirror, "
                    "e.g. 'https://schemas.example.com/common/: example-common/'"
                )
            if len(data) > MAX_PREFIXES:
                raise MirrorConfigError(f"{prefixes_file}: more than {MAX_PREFIXES} prefixes")
            prefixes = dict(sorted(data.items(), key=lambda item: len(item[0]), reverse=True))
        return cls(directory, prefixes, read)

    def find(self, url: str) -> Path | None:
        """The mirrored file for `url`, or None."""
        found, _ = self.lookup(url)
        return found[1] if found is not None else None

    def lookup(self, url: str) -> tuple[tuple[Path, Path] | None, list[Path]]:
        """(the candidate path that names the mirrored file for `url`, that file), or None; and the
        candidates looked up before it and passed over (a file appearing at one of them would be
        used instead)."""
        root = self.directory.resolve()
        passed_over = []
        for base in self._candidates(url):
            for suffix in MIRROR_SUFFIXES:
                candidate = Path(str(base) + suffix) if suffix else base
                try:
                    real = candidate.resolve()
                except (OSError, RuntimeError):
                    passed_over.append(candidate)
                    continue
                if real.is_relative_to(root) and real.is_file():
                    return (candidate, real), passed_over
                passed_over.append(candidate)
        return None, passed_over

    def _candidates(self, url: str) -> list[Path]:
        candidates = []
        for prefix in self.prefixes:  # longest first (sorted when read)
            if url.startswith(prefix):
                rest = unquote(urlsplit(url[len(prefix) :]).path).lstrip("/")
                mapped = self.directory / self.prefixes[prefix]
                candidates.append(mapped / rest if rest else mapped)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower() + (f"_{parts.port}" if parts.port else "")
        path = unquote(parts.path).strip("/")
        if host and path:
            candidates.append(self.directory / host / path)
        return candidates


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _too_large(shown: str) -> RetrievalError:
    return RetrievalError(
        "ref-file-too-large",
        f"the referenced file {shown} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; "
        "it was not read",
        "split it into smaller files joined with $ref",
    )


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return Path(relative).as_posix() if not relative.startswith("..") else str(path)


def https_fetch(
    url: str,
    *,
    api_key: str | None = None,
    api_key_host: str = SWAGGERHUB_HOST,
    allow_private_hosts: bool = False,
    timeout: float = REMOTE_TIMEOUT_S,
    deadline: float = REMOTE_DEADLINE_S,
    max_bytes: int = MAX_REMOTE_BYTES,
    tls: TlsWrapper | None = None,
) -> bytes:
    """GET `url` over HTTPS (no other scheme, also after redirects), within `deadline` seconds in
    all and `max_bytes`, from public addresses only unless `allow_private_hosts`.

    The API key goes only to `api_key_host` (an exact host name match), and only while every
    redirect so far stayed on that host. The host name is resolved once, every address checked, and
    the connection made to the checked address (a second lookup could answer differently). `tls`
    wraps the connected socket (tests replace it; the default verifies the certificate against the
    host name).
    """
    # only now: most conversions fetch nothing, and the HTTP stack takes a while to load
    import http.client

    ends = time.monotonic() + deadline
    shown = shown_url(url)
    key_host = api_key_host.lower() if api_key else None
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        if parts.scheme.lower() != "https":
            if hop == 0:
                raise RetrievalError(
                    "ref-remote-insecure",
                    f"{shown} is not an https URL; it was not fetched",
                    "use the https URL, or put the document in the --ref-mirror directory",
                )
            raise RetrievalError(
                "ref-remote-insecure",
                f"fetching {shown} was redirected to the non-https URL "
                f"{shown_url(current)}; it was not followed",
                "mirror the document with --ref-mirror",
            )
        host = (parts.hostname or "").lower()
        if key_host is not None and host != key_host:
            # off the registry host once: the key never follows a redirect elsewhere
            key_host = None
        try:
            port = parts.port or 443
            addresses = _checked_addresses(shown, host, port, allow_private_hosts)
            status, headers, body = _get(
                addresses,
                host,
                port,
                current,
                api_key if key_host else None,
                timeout,
                ends,
                max_bytes,
                tls or _verified_tls,
                shown,
            )
        except TimeoutError:
            raise RetrievalError(
                "ref-fetch-timeout",
                f"fetching {shown} timed out (limits: {timeout:g} s without "
                f"data, {deadline:g} s in all); it was not used",
                "mirror the document with --ref-mirror",
            ) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise RetrievalError(
                "ref-fetch-failed",
                f"fetching {shown} failed: {exc}",
                "check the network, or mirror the document with --ref-mirror",
            ) from None
        if status in (301, 302, 303, 307, 308) and headers.get("Location"):
            current = urljoin(current, headers["Location"])
            continue
        if status != 200:
            hint = (
                "set SWAGGERHUB_API_KEY to a key that can read it"
                if status in (401, 403)
                else "check the URL, or mirror the document with --ref-mirror"
            )
            raise RetrievalError(
                "ref-fetch-failed", f"fetching {shown} failed: HTTP {status}", hint
            )
        return body
    raise RetrievalError(
        "ref-fetch-failed",
        f"fetching {shown} failed: more than {MAX_REDIRECTS} redirects",
        "mirror the document with --ref-mirror",
    )


def _checked_addresses(url: str, host: str, port: int, allow_private_hosts: bool) -> list[str]:
    """The addresses to connect to for `host`: each address it resolves to must be public (or
    allowed)."""
    import socket

    if not host:
        raise RetrievalError("ref-fetch-failed", f"{url} names no host", "correct the URL")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RetrievalError(
            "ref-fetch-failed",
            f"fetching {url} failed: cannot resolve {host} ({exc})",
            "check the URL and the network, or mirror the document with --ref-mirror",
        ) from None
    addresses = [str(info[4][0]) for info in found]
    if not allow_private_hosts:
        for address in addresses:
            kind = non_public_kind(ipaddress.ip_address(address.split("%", 1)[0]))
            if kind:
                where = f"{host} is" if host == address else f"{host} is at {address},"
                raise RetrievalError(
                    "ref-fetch-refused-host",
                    f"{where} a {kind} address; {url} was not fetched",
                    "remote references are fetched from public hosts only: mirror the document with"
                    " --ref-mirror, or pass --allow-private-hosts if the host on your own network"
                    " is trusted",
                )
    if not addresses:
        raise RetrievalError(
            "ref-fetch-failed",
            f"fetching {url} failed: {host} has no address",
            "check the URL, or mirror the document with --ref-mirror",
        )
    return list(dict.fromkeys(addresses))


def non_public_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address this is ("loopback", "private", ...), or None for a public
    one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return non_public_kind(embedded) or (
                None if address.ipv4_mapped else non_public_kind_v6(address)
            )
        return non_public_kind_v6(address)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata services answer here)"
    if address.is_private:
        return "private"
    return None if address.is_global and not address.is_multicast else "non-public"


def non_public_kind_v6(address: ipaddress.IPv6Address) -> str | None:
    """`non_public_kind` for an IPv6 address itself (not what it embeds)."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private or address.is_site_local:
        return "private"
    return None if address.is_global and not address.is_multicast else "non-public"


def _get(
    addresses: list[str],
    host: str,
    port: int,
    url: str,
    api_key: str | None,
    timeout: float,
    ends: float,
    max_bytes: int,
    tls: TlsWrapper,
    shown: str,
) -> tuple[int, Any, bytes]:
    """(status, headers, body) of one GET of `url` from the first of `addresses` that answers, read
    whole within the deadline `ends` (`shown`: the URL first asked for, as messages name it)."""
    import http.client

    parts = urlsplit(url)
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~") + (
        "?" + quote(parts.query, safe="/%:@!$&'()*+,;=~?") if parts.query else ""
    )
    shown_host = f"[{host}]" if ":" in host else host
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {shown_host}" + ("" if port == 443 else f":{port}"),
        "Accept: application/yaml, application/json;q=0.9",
        "Accept-Encoding: identity",
        "User-Agent: kpn-collections",
        "Connection: close",
    ]
    if api_key:
        if not api_key.isprintable():
            raise ValueError(f"{API_KEY_VARIABLE} holds a line break or another control character")
        lines.append(f"Authorization: {api_key}")  # SwaggerHub's registry API takes the bare key
    connection = _connect(addresses, port, min(timeout, _remaining(ends)))
    try:
        connection = tls(connection, host)
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        received: list[bytes] = []
        size, limit = 0, max_bytes + MAX_REMOTE_HEADER_BYTES
        while True:
            connection.settimeout(min(timeout, _remaining(ends)))
            data = connection.recv(65536)
            if not data:
                break
            size += len(data)
            if size > limit:
                raise RetrievalError(
                    "ref-fetch-too-large",
                    f"{shown} is larger than {max_bytes} bytes; it was not used",
                    "mirror the document with --ref-mirror",
                )
            received.append(data)
    finally:
        connection.close()
    received_whole = _Received(b"".join(received))
    response = http.client.HTTPResponse(received_whole, method="GET")  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    if len(body) > max_bytes:
        raise RetrievalError(
            "ref-fetch-too-large",
            f"{shown} is larger than {max_bytes} bytes; it was not used",
            "mirror the document with --ref-mirror",
        )
    return response.status, response.headers, body


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of the (checked) addresses that accepts one."""
    import socket

    failure: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except TimeoutError:
            raise
        except OSError as exc:
            failure = exc
    raise failure


def _remaining(ends: float) -> float:
    """Seconds left until `ends`; TimeoutError when none are."""
    left = ends - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


@dataclass(frozen=True)
class _Received:
    """A response read whole, handed to http.client's parser as if it were the socket."""

    data: bytes

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def _verified_tls(connection: socket.socket, host: str) -> socket.socket:
    """TLS over `connection`, the certificate verified for `host` (the handshake within its
    timeout)."""
    import ssl

    return ssl.create_default_context().wrap_socket(connection, server_hostname=host)


def shown_url(url: str) -> str:
    """A remote URL as messages show it: without a user name and password or secret query
    parameters."""
    return strip_url_credentials(url)[0]


def default_remote_fetcher(
    api_key_host: str = SWAGGERHUB_HOST, allow_private_hosts: bool = False
) -> RemoteFetcher:
    """https_fetch with the SwaggerHub API key from the environment, read at call time."""

    def fetch(url: str) -> bytes:
        return https_fetch(
            url,
            api_key=os.environ.get(API_KEY_VARIABLE) or None,
            api_key_host=api_key_host,
            allow_private_hosts=allow_private_hosts,
        )

    return fetch


@dataclass
class DefaultRetriever:
    """Local files within the root; remote URLs from the mirror, then (only if allowed) over
    HTTPS."""

    files: FileRetriever
    mirror: MirrorRetriever | None = None
    allow_remote: bool = False
    fetch_remote: RemoteFetcher = field(default_factory=default_remote_fetcher)

    def __call__(self, uri: str) -> Retrieved:
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "file":
            return self.files(uri)
        if scheme not in ("http", "https"):
            raise RetrievalError(
                "ref-unsupported-scheme",
                f"cannot retrieve {uri}: unsupported URI scheme",
                "use a relative file path or an https URL",
            )
        if self.mirror is not None:
            found, passed_over = self.mirror.lookup(uri)
            if found is not None:
                candidate, mirrored = found
                consulted = (
                    *([self.mirror.prefixes_read] if self.mirror.prefixes_read else []),
                    *(Dependency(p) for p in passed_over),
                )
                try:
                    content = read_limited(mirrored)
                    return Retrieved(
                        content,
                        _shown(mirrored),
                        mirrored,
                        (*consulted, Dependency(candidate, mirrored, _sha256(content))),
                    )
                except FileTooLarge:
                    raise _too_large(_shown(mirrored)) from None
                except OSError as exc:
                    raise RetrievalError(
                        "ref-file-unreadable",
                        f"cannot read {mirrored}: {exc.strerror or exc}",
                        "check the file's permissions",
                    ) from None
        if not self.allow_remote:
            where = (
                "is not in the mirror " + str(self.mirror.directory) if self.mirror else "is remote"
            )
            raise RetrievalError(
                "ref-remote-not-allowed",
                f"{shown_url(uri)} {where}, and remote references are not fetched by default",
                "save the document under a --ref-mirror DIR (as DIR/<host>/<path>.yaml), "
                "or pass --allow-remote-refs to fetch it (SWAGGERHUB_API_KEY is sent when set)",
            )
        return Retrieved(self.fetch_remote(uri), shown_url(uri))


def build_retriever(
    settings: Settings,
    spec: Path,
    *,
    display: str | None = None,
    fetch_remote: RemoteFetcher | None = None,
) -> DefaultRetriever:
    """The retriever for one input file: files within the reference root (default: the file's
    directory), remote documents from the mirror, and over HTTPS only when the settings allow it.

    Raises MirrorConfigError when the mirror directory is unusable.
    """
    directory = spec.absolute().parent
    shown = os.path.dirname(display if display is not None else str(spec))
    files = FileRetriever(settings.ref_root or directory, display_base=(directory, shown))
    mirror = MirrorRetriever.open(settings.ref_mirror) if settings.ref_mirror is not None else None
    retriever = DefaultRetriever(
        files,
        mirror,
        settings.allow_remote_refs,
        default_remote_fetcher(settings.swaggerhub_host, settings.allow_private_hosts),
    )
    if fetch_remote is not None:
        retriever.fetch_remote = fetch_remote
    return retriever
