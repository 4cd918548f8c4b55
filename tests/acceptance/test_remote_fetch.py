"""Remote `$ref` fetching (`--allow-remote-refs`): the SwaggerHub API key goes to the registry host
only, a fetch has an overall deadline, and loopback, private, link-local and metadata addresses are
refused unless allowed.

The fetcher runs for real against a local server on 127.0.0.1: host names resolve through a patched
`socket.getaddrinfo`, the address checks, the connection to the checked address, the HTTP exchange
and the redirects are the production code. Only TLS is replaced (the `tls` argument, or
`_verified_tls` for a whole conversion) by the plain socket, since the tests have no certificate
authority a real host name could use.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kpn_collections import Settings, cli, convert_file
from kpn_collections.refs import retrieve
from kpn_collections.refs.retrieve import RetrievalError, https_fetch
from kpn_collections.write import dumps

from ..conftest import FIXTURES
from ..unit.test_refs import minimal_spec

KEY = "sh-secret-key-123"
DOMAIN = (
    FIXTURES
    / "refs"
    / "swaggerhub-domain"
    / "mirror"
    / "api.swaggerhub.com"
    / "domains"
    / "kpn"
    / "common"
    / "1.0.0.yaml"
).read_bytes()
LOCAL_NAMES = {
    "api.swaggerhub.com",
    "swaggerhub.evil.test",
    "api.swaggerhub.com.evil.test",
    "other.test",
    "swaggerhub.example.test",
}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []  # (request line, headers) as received
        self.stop_dripping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class Handler(socketserver.StreamRequestHandler):
    server: Server

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1").strip()
        headers: dict[str, str] = {}
        while line := self.rfile.readline().decode("latin-1").strip():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.server.requests.append((request_line, headers))
        path = request_line.split(" ")[1]
        port = self.server.port
        if path == "/doc":
            self.reply(b"200 OK", DOMAIN)
        elif path == "/to-other":
            self.redirect(f"https://other.test:{port}/doc")
        elif path == "/to-same":
            self.redirect("/doc")
        elif path == "/to-http":
            self.redirect(f"http://api.swaggerhub.com:{port}/doc")
        elif path == "/drip":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            for _ in range(200):  # at most 20 s, well past the deadline the test sets
                if self.server.stop_dripping.wait(0.1):
                    break
                try:
                    self.wfile.write(b"a")
                    self.wfile.flush()
                except OSError:
                    break
        else:
            self.reply(b"404 Not Found", b"")

    def reply(self, status: bytes, body: bytes) -> None:
        self.wfile.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )

    def redirect(self, location: str) -> None:
        self.wfile.write(
            b"HTTP/1.1 302 Found\r\nLocation: "
            + location.encode()
            + b"\r\nContent-Length: 0\r\n\r\n"
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A local server that every name in LOCAL_NAMES resolves to."""
    real_getaddrinfo = socket.getaddrinfo

    def local_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real_getaddrinfo("127.0.0.1" if host in LOCAL_NAMES else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_dns)
    with Server() as running:
        thread = threading.Thread(target=running.serve_forever, daemon=True)
        thread.start()
        yield running
        running.stop_dripping.set()
        running.shutdown()


def plain(connection: socket.socket, host: str) -> socket.socket:
    return connection


def fetch(url: str, **kwargs: Any) -> bytes:
    return https_fetch(url, api_key=KEY, allow_private_hosts=True, tls=plain, **kwargs)


def sent_keys(server: Server) -> list[tuple[str, str | None]]:
    return [
        (headers["host"].split(":")[0], headers.get("authorization"))
        for _, headers in server.requests
    ]


def test_api_key_goes_to_the_registry_host_only(server: Server) -> None:
    port = server.port
    assert fetch(f"https://api.swaggerhub.com:{port}/doc") == DOMAIN
    for lookalike in ("swaggerhub.evil.test", "api.swaggerhub.com.evil.test"):
        assert fetch(f"https://{lookalike}:{port}/doc") == DOMAIN
    assert sent_keys(server) == [
        ("api.swaggerhub.com", KEY),
        ("swaggerhub.evil.test", None),
        ("api.swaggerhub.com.evil.test", None),
    ]


def test_api_key_never_follows_a_redirect_to_another_host(server: Server) -> None:
    port = server.port
    assert fetch(f"https://api.swaggerhub.com:{port}/to-other") == DOMAIN
    assert sent_keys(server) == [("api.swaggerhub.com", KEY), ("other.test", None)]
    server.requests.clear()
    # same host: the key goes along
    assert fetch(f"https://api.swaggerhub.com:{port}/to-same") == DOMAIN
    assert sent_keys(server) == [("api.swaggerhub.com", KEY), ("api.swaggerhub.com", KEY)]
    server.requests.clear()
    with pytest.raises(RetrievalError, match="non-https") as refused:
        fetch(f"https://api.swaggerhub.com:{port}/to-http")
    assert refused.value.code == "ref-remote-insecure"
    assert len(server.requests) == 1


def test_on_premise_registry_host_is_a_setting(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = server.port
    assert (
        fetch(f"https://swaggerhub.example.test:{port}/doc", api_key_host="swaggerhub.example.test")
        == DOMAIN
    )
    assert (
        fetch(f"https://api.swaggerhub.com:{port}/doc", api_key_host="swaggerhub.example.test")
        == DOMAIN
    )
    assert sent_keys(server) == [("swaggerhub.example.test", KEY), ("api.swaggerhub.com", None)]
    # and through a whole conversion, with the key from the environment and the settings' host
    server.requests.clear()
    monkeypatch.setenv("SWAGGERHUB_API_KEY", KEY)
    monkeypatch.setattr(retrieve, "_verified_tls", plain)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(f"https://swaggerhub.example.test:{port}/doc#/components/schemas/Error"),
        encoding="utf-8",
    )
    result = convert_file(
        spec,
        Settings(
            allow_remote_refs=True,
            allow_private_hosts=True,
            swaggerhub_host="swaggerhub.example.test",
        ),
    )
    assert result.collection is not None, [d.format() for d in result.diagnostics]
    assert sent_keys(server) == [("swaggerhub.example.test", KEY)]
    assert KEY not in dumps(result.collection)


def test_a_dripping_server_cannot_hold_a_fetch_past_its_deadline(server: Server) -> None:
    with pytest.raises(RetrievalError) as timed_out:
        fetch(f"https://api.swaggerhub.com:{server.port}/drip", deadline=1.0)
    assert timed_out.value.code == "ref-fetch-timeout"
    assert "1 s in all" in timed_out.value.message


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fd00:ec2::254", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.100.100.200", "non-public"),
        ("0.0.0.0", "private"),
        ("fe80::1", "link-local"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_non_public_addresses_are_refused_without_connecting(
    address: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    connected: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **k: connected.append(a) or pytest.fail()
    )
    with pytest.raises(RetrievalError) as refused:
        https_fetch("https://internal.example.test/spec.yaml", api_key=KEY)
    assert refused.value.code == "ref-fetch-refused-host"
    assert kind in refused.value.message and address in refused.value.message
    assert "--allow-private-hosts" in refused.value.hint
    assert connected == []


def test_every_address_is_checked_and_the_checked_one_is_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([["93.184.216.34", "10.0.0.1"], ["93.184.216.34"], ["127.0.0.1"]])
    lookups: list[str] = []
    connected: list[Any] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in next(answers)]

    def connect(address: Any, *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(
        RetrievalError
    ) as refused:  # one private address among public ones is enough
        https_fetch("https://mixed.example.test/a.yaml")
    assert refused.value.code == "ref-fetch-refused-host" and connected == []
    # a name checked once is connected to at the checked address, never looked up again (DNS
    # rebinding)
    with pytest.raises(RetrievalError, match="no network in tests"):
        https_fetch("https://rebinding.example.test/a.yaml")
    assert lookups == ["mixed.example.test", "rebinding.example.test"]
    assert connected == [("93.184.216.34", 443)]


def test_loopback_needs_allow_private_hosts(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieve, "_verified_tls", plain)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(f"https://127.0.0.1:{server.port}/doc#/components/schemas/Error"),
        encoding="utf-8",
    )
    refused = convert_file(spec, Settings(allow_remote_refs=True))
    assert [e.code for e in refused.errors] == ["ref-fetch-refused-host"]
    assert refused.errors[0].line == 13
    assert server.requests == []
    allowed = convert_file(spec, Settings(allow_remote_refs=True, allow_private_hosts=True))
    assert allowed.collection is not None, [d.format() for d in allowed.diagnostics]
    assert len(server.requests) == 1


def test_size_cap_and_bad_status_are_located_errors(server: Server) -> None:
    with pytest.raises(RetrievalError, match="larger than 10 bytes") as large:
        fetch(f"https://api.swaggerhub.com:{server.port}/doc", max_bytes=10)
    assert large.value.code == "ref-fetch-too-large"
    with pytest.raises(RetrievalError, match="HTTP 404") as missing:
        fetch(f"https://api.swaggerhub.com:{server.port}/nothing")
    assert missing.value.code == "ref-fetch-failed"


def test_command_line_and_settings_file_options(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(retrieve, "_verified_tls", plain)
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        minimal_spec(
            f"https://swaggerhub.example.test:{server.port}/doc#/components/schemas/Error"
        ),
        encoding="utf-8",
    )
    env = {"SWAGGERHUB_API_KEY": KEY}
    remote = [
        "--allow-remote-refs",
        "--allow-private-hosts",
        "--swaggerhub-host",
        "swaggerhub.example.test",
    ]
    for command in (["convert", "--no-cache", "-j", "1"], ["bundle"], ["inject"]):
        server.requests.clear()
        output = tmp_path / f"out-{command[0]}.yaml"
        result = CliRunner().invoke(
            cli.main, [*command, str(spec), "-o", str(output), *remote], env=env
        )
        assert result.exit_code == 0, result.output
        assert sent_keys(server) == [("swaggerhub.example.test", KEY)], command
    result = CliRunner().invoke(
        cli.main, ["convert", str(spec), "--swaggerhub-host", "https://evil.test/"]
    )
    assert (
        result.exit_code == 2
        and "--swaggerhub-host" in result.output
        and "host name" in result.output
    )
    # a settings file (it comes with the repository) may not say where the key goes, nor reach
    # private hosts
    for line in ("swaggerhub-host: other.test", "allow-private-hosts: true"):
        (tmp_path / ".kpn-collections.yaml").write_text(
            f"allow-remote-refs: true\n{line}\n", encoding="utf-8"
        )
        server.requests.clear()
        result = CliRunner().invoke(cli.main, ["convert", str(spec), "-o", "-", "-j", "1"], env=env)
        assert result.exit_code == 2 and "for the command line only" in result.output, result.output
        assert server.requests == []


def test_messages_never_show_credentials_of_remote_urls(tmp_path: Path) -> None:
    url = "https://bob:pw-123456@schemas.example.test/common.yaml?access_token=tok-654321"
    spec = tmp_path / "spec.yaml"
    spec.write_text(minimal_spec(url + "#/components/schemas/Error"), encoding="utf-8")
    refused = convert_file(spec, Settings())
    assert [e.code for e in refused.errors] == ["ref-remote-not-allowed"]
    broken = convert_file(
        spec, Settings(allow_remote_refs=True), fetch_remote=lambda url: b"a: [unclosed\n"
    )
    assert "yaml-syntax" in [e.code for e in broken.errors]
    for result in (refused, broken):
        shown = [d.format() for d in result.diagnostics]
        assert "schemas.example.test/common.yaml" in "".join(shown)
        assert not [line for line in shown if "pw-123456" in line or "tok-654321" in line]


def test_an_api_key_with_a_line_break_is_refused_without_showing_it(server: Server) -> None:
    with pytest.raises(RetrievalError) as refused:
        https_fetch(
            f"https://api.swaggerhub.com:{server.port}/doc",
            api_key="key-123\r\nX-Evil: 1",
            allow_private_hosts=True,
            tls=plain,
        )
    assert refused.value.code == "ref-fetch-failed" and "key-123" not in refused.value.message
    assert server.requests == []
