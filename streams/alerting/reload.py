"""Following the rules file from a thread of its own, so a change reaches the rules and the
delivery destinations even while no detection arrives (``vigil alerts``, ``vigil deliver``)."""

from __future__ import annotations

import threading

from streams.alerting import metrics
from streams.alerting.rules import RulesFile


def follow_rules(rules: RulesFile, poll_s: float, stop: threading.Event) -> threading.Thread:
    """A thread that re-reads the rules file about every ``poll_s`` until ``stop``; a rejected
    edit is counted once, not once per poll."""

    def run() -> None:
        last_error: str | None = None
        while not stop.wait(poll_s):
            if rules.refresh():
                metrics.RULE_RELOADS.labels("applied").inc()
            elif rules.error is not None and rules.error != last_error:
                metrics.RULE_RELOADS.labels("rejected").inc()
            last_error = rules.error

    thread = threading.Thread(target=run, name="rules-file", daemon=True)
    thread.start()
    return thread
