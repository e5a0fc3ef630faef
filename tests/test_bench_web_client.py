"""The load benchmark's HTTP client (benchmarks/bench_web.py): a kept-alive connection
that the server closed while the client thought is opened again and the GET resent (as
browsers do), so the benchmark does not count the server's idle timeout as an error; a
connection that breaks during an answer stays an error."""

from __future__ import annotations

import importlib.util
import socket
import threading
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_web.py"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_web", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _server(answer_of):
    """A server on loopback: each connection gets ``answer_of(n)`` for its first request
    (n: the connection's number) and is then closed, as an idle keep-alive one is."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            with conn:
                conn.recv(4096)
                conn.sendall(answer_of(len(connections)))

    threading.Thread(target=serve, daemon=True).start()
    return listener, connections


def test_a_connection_closed_while_idle_is_opened_again():
    listener, connections = _server(lambda n: ANSWER)
    client = _bench().Connection(f"http://127.0.0.1:{listener.getsockname()[1]}", 5.0)
    try:
        assert client.get("/a") == (200, 2, "")
        assert client.get("/b") == (200, 2, "")  # the first connection was closed
        assert len(connections) == 2
    finally:
        client.close()
        listener.close()


def test_a_connection_broken_during_an_answer_is_an_error():
    listener, _ = _server(lambda n: ANSWER if n == 1 else ANSWER[:20])
    client = _bench().Connection(f"http://127.0.0.1:{listener.getsockname()[1]}", 5.0)
    try:
        client.get("/a")
        with pytest.raises(ConnectionError, match="during an answer"):
            client.get("/b")
    finally:
        client.close()
        listener.close()
