"""``vigil.kafka.within``: a librdkafka call that blocks past its own timeout (issues
#5456/#5511) ends the process with ``WATCHDOG_EXIT`` and a CRITICAL line saying why, for its
supervisor to restart it; a call that returns in time is untouched."""

from __future__ import annotations

import subprocess
import sys

from vigil import kafka


def test_a_call_in_time_returns_its_value() -> None:
    assert kafka.within("quick", 5.0, lambda: 42) == 42


def test_a_call_blocked_past_the_limit_exits_the_process_with_the_reason() -> None:
    code = (
        "import logging, time; logging.basicConfig(); from vigil import kafka; "
        "kafka.within('a stuck send_offsets_to_transaction', 0.5, lambda: time.sleep(60))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == kafka.WATCHDOG_EXIT
    assert "a stuck send_offsets_to_transaction blocked for 0 s" in done.stderr
    assert "librdkafka #5456" in done.stderr
