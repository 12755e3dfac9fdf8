"""A real webhook receiver for tests and benchmarks/webhooks_outage.py: an HTTP server in a
thread on a local port, recording every request it gets.

It can be down (the port closed: connections are refused), answer a status of the test's
choosing per request, or take its time before answering.
"""
from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Receipt:
    key: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class Receiver:
    """``status(key, n)`` says what to answer the ``n``-th request (1, 2, ...) for ``key``;
    ``delay`` seconds pass before the answer."""

    def __init__(self, port: int | None = None, status: Callable[[str, int], int] = lambda key, n: 200,
                 delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = status
        self.delay = delay
        self.receipts: list[Receipt] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def up(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                with receiver._lock:
                    n = 1 + sum(1 for r in receiver.receipts if r.key == key)
                    status = receiver.status(key, n)
                    receiver.receipts.append(Receipt(key, dict(self.headers.items()), body, status))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def counts(self) -> Counter[str]:
        """Requests per idempotency key."""
        with self._lock:
            return Counter(r.key for r in self.receipts)

    def acknowledged(self) -> Counter[str]:
        """Requests per idempotency key that were answered 2xx."""
        with self._lock:
            return Counter(r.key for r in self.receipts if 200 <= r.status < 300)
