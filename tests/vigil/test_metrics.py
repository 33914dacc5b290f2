from __future__ import annotations

import urllib.request

from vigil.metrics import serve_metrics


def test_metrics_endpoint_serves_prometheus_text() -> None:
    assert serve_metrics(None, "test") is None
    port = serve_metrics(0, "test", addr="127.0.0.1")
    assert port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert 'vigil_build_info{component="test",version="0.1.0"} 1.0' in body
