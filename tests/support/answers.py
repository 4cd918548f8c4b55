"""A local HTTP server that answers every request with a fixed (status, headers, body), chosen by
the request's path, for tests that need a server breaking the contract in one known way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], Any]
"""(status, headers, body): a text body is sent as it is, any other value as JSON."""


class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the server's (status, headers, body) for the request's path (or
    "*")."""

    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes: without this, each keep-alive answer waits out the
    # client's delayed ACK (40 ms a request; half the time of a big collection's run)
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answers = self.server.answers  # type: ignore[attr-defined]
        status, headers, body = answers.get(self.path.split("?")[0], answers["*"])
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


@contextmanager
def serve(answers: dict[str, Answer]) -> Iterator[str]:
    """The server's URL while the block runs; `answers` maps a path (or "*", any other) to its
    answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.daemon_threads = True
    server.answers = answers  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
