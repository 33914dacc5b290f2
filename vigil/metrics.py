"""Prometheus metrics: every long-running command can serve ``/metrics`` on a configured port."""

from __future__ import annotations

from prometheus_client import Gauge, start_http_server

from vigil import __version__

BUILD_INFO = Gauge("vigil_build_info", "Vigil version and component", ["version", "component"])


def serve_metrics(port: int | None, component: str, addr: str = "0.0.0.0") -> int | None:  # noqa: S104
    """Start the ``/metrics`` endpoint if a port is configured; the bound port (0 = any free)."""
    BUILD_INFO.labels(__version__, component).set(1)
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=addr)
    return int(server.server_port)
