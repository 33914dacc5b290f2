"""Webhook endpoints for tests: one that records (and checks signatures), one that answers 500,
one that hangs."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streams.alerting.delivery import SIGNATURE_HEADER, signature


class Endpoint:
    def __init__(self, mode: str, secret: bytes = b"", hang_s: float = 5.0) -> None:
        self.mode = mode
        self.secret = secret
        self.hang_s = hang_s
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.hits = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.hits += 1
                if endpoint.mode == "hang":
                    time.sleep(endpoint.hang_s)
                if endpoint.mode != "ok":
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.headers.get(SIGNATURE_HEADER) != signature(endpoint.secret, body):
                    endpoint.bad_signatures += 1
                endpoint.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
