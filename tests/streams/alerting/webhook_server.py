"""Webhook endpoints for tests on 127.0.0.1: one that records (and verifies signatures with the
receiver-side :func:`verify`), one that answers 500, one that hangs. ``mode`` may be changed
while it runs; ``close()`` then a new one on the same ``port`` is a receiver that went down
and came back."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streams.alerting.delivery import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verdict,
    check,
)
from vigil.testing import poll_until


@dataclass(frozen=True)
class Receipt:
    alert_id: str
    at: float  # time.time() when it was accepted
    timestamp: str


class _Server(ThreadingHTTPServer):
    # the default listen backlog (5) drops connections of a burst; their SYN retry comes 1 s later
    request_queue_size = 128


class Endpoint:
    """``mode``: ok (204, after ``delay_s``), 500, or hang (``hang_s``, then 500). With a
    ``secret`` a request that fails :func:`check` is counted and answered 401."""

    def __init__(
        self,
        mode: str = "ok",
        secret: bytes = b"",
        hang_s: float = 5.0,
        *,
        delay_s: float = 0.0,
        port: int = 0,
        fail_ids: set[str] | None = None,
    ) -> None:
        self.mode = mode
        self.secret = secret
        self.hang_s = hang_s
        self.delay_s = delay_s
        self.fail_ids = fail_ids if fail_ids is not None else set()  # answered 500 while "ok"
        self.received: list[dict[str, Any]] = []
        self.receipts: list[Receipt] = []
        self.bad_signatures = 0
        self.stale = 0
        self.wrong_ids = 0  # X-Vigil-Alert-Id not the body's alert id
        self.hits = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint.lock:
                    endpoint.hits += 1
                    endpoint.in_flight += 1
                    endpoint.peak_in_flight = max(endpoint.peak_in_flight, endpoint.in_flight)
                try:
                    status = endpoint.answer(self.headers, body)
                finally:  # before answering: the client may send its next POST at once
                    with endpoint.lock:
                        endpoint.in_flight -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_port)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, headers: Any, body: bytes) -> int:
        if self.mode == "hang":
            time.sleep(self.hang_s)
        if self.mode != "ok":
            return 500
        if self.delay_s:
            time.sleep(self.delay_s)
        alert = json.loads(body)
        if headers.get(ALERT_ID_HEADER) != alert["alert_id"]:
            with self.lock:
                self.wrong_ids += 1
            return 400
        if alert["alert_id"] in self.fail_ids:
            return 500
        if self.secret:
            verdict = check(
                self.secret, body, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
            )
            if verdict is not Verdict.OK:
                with self.lock:
                    if verdict is Verdict.STALE:
                        self.stale += 1
                    else:
                        self.bad_signatures += 1
                return 401
        with self.lock:
            self.received.append(alert)
            self.receipts.append(
                Receipt(alert["alert_id"], time.time(), headers.get(TIMESTAMP_HEADER, ""))
            )
        return 204

    def ids(self) -> list[str]:
        with self.lock:
            return [a["alert_id"] for a in self.received]

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """True once ``count`` alerts were accepted (polled, bounded)."""
        return poll_until(lambda: len(self.received) >= count, timeout_s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
