"""A tiny HTTP server on 127.0.0.1 for download tests: Range, ETag, errors, a cut connection."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Seen:
    """One request the server received."""

    path: str
    range: str | None
    if_range: str | None


@dataclass
class FileServer:
    """Serves ``data`` at every path, in a thread, on a free port of 127.0.0.1.

    ``ranges`` turns Range support off, ``status`` answers every request with that status,
    ``cut_after`` sends only that many body bytes of the next response and closes the
    connection (once). ``requests`` records what was asked.
    """

    data: bytes
    ranges: bool = True
    etag: str = '"v1"'
    last_modified: str = "Tue, 01 Oct 2024 00:00:00 GMT"
    content_type: str = "application/zip"
    status: int = 200
    cut_after: int | None = None
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/DesInventar/download/"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
            server.requests.append(Seen(self.path, rng, if_range))
            if server.status != 200:
                self._send(server.status, b"<html>error</html>", "text/html")
                return
            data, size = server.data, len(server.data)
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            fresh = if_range in (None, server.etag, server.last_modified)
            if server.ranges and match and fresh:
                start = int(match.group(1))
                if start >= size:
                    self._send(416, b"", extra={"Content-Range": f"bytes */{size}"})
                    return
                extra = {"Content-Range": f"bytes {start}-{size - 1}/{size}"}
                self._send(206, data[start:], server.content_type, extra)
            else:
                self._send(200, data, server.content_type)

        def _send(
            self,
            status: int,
            body: bytes,
            ctype: str = "text/plain",
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", server.etag)
            self.send_header("Last-Modified", server.last_modified)
            if server.ranges:
                self.send_header("Accept-Ranges", "bytes")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if server.cut_after is not None:
                body, server.cut_after = body[: server.cut_after], None
                self.close_connection = True
            self.wfile.write(body)
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:  # stay quiet
            pass

    return Handler
