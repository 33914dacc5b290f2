"""What ``bench.alerts`` observes from outside the app: when each committed alert becomes
visible to a ``read_committed`` reader, and when a webhook receiver on loopback gets it."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Message

from schemas.contracts import serde_for
from vigil.follow import Follower, from_end
from vigil.testing import poll_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


class Receiver:
    """A webhook receiver on loopback noting when each alert id first arrived."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.arrived: dict[str, float] = {}
        receiver = self

        class Server(ThreadingHTTPServer):
            # bursts of new connections overflowed the default listen backlog of 5: the
            # dropped SYNs were retried after 1 s and showed up as 1 s delivery latencies
            request_queue_size = 128

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                alert_id = self.headers.get("X-Vigil-Alert-Id", "")
                receiver.arrived.setdefault(alert_id, time.time() * 1000)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlertWatcher:
    """A read_committed consumer from the end of vigil.alerts, noting when each alert of the
    paced phase becomes visible."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.serde = serde_for(settings, Topic.ALERTS)
        self.produced: list[float] = []
        self.visible: list[float] = []
        self.seen_at: dict[str, float] = {}
        self.cameras: set[str] = set()
        self._reader = Follower(
            settings,
            Topic.ALERTS.name_in(settings.topics),
            self._seen,
            name="bench-alert-watcher",
            start=from_end,
            poll_s=0.05,
        )

    def start(self) -> AlertWatcher:
        self._reader.start().wait(30)
        return self

    def _seen(self, msg: Message) -> None:
        now = time.time() * 1000
        alert = self.serde.decode(msg)
        if str(alert["camera_id"]).startswith("lat"):
            self.produced.append(alert["alert_ts_ms"] - alert["capture_ts_ms"])
            self.visible.append(now - alert["capture_ts_ms"])
            self.seen_at[str(alert["alert_id"])] = now
            self.cameras.add(str(alert["camera_id"]))

    def wait(self, n: int, timeout_s: float) -> tuple[list[float], list[float], dict[str, float]]:
        """Until alerts of ``n`` timed incidents (cameras) were seen."""
        poll_until(lambda: len(self.cameras) >= n, timeout_s, 0.1)
        time.sleep(1.0)  # the other alerts of the last incidents' frames
        self._reader.stop(10)
        return list(self.produced), list(self.visible), dict(self.seen_at)
