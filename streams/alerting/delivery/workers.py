"""A lane's sending threads: each takes an alert, sends it with the target's retries and hands
the result back. Only the lane thread puts work in and takes results out, so every piece of a
lane's state stays on that one thread."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from streams.alerting.delivery.dead_letters import Work
from streams.alerting.delivery.targets import Failed, Result, Target

log = logging.getLogger("streams.alerting.delivery")


class Workers:
    """``count`` daemon threads sending to ``target``; :attr:`abandon` makes them stop
    retrying (a send in progress returns :class:`Abandoned`)."""

    def __init__(self, target: Target, count: int) -> None:
        self.target = target
        self.abandon = threading.Event()
        self._todo: queue.Queue[tuple[Work, dict[str, Any]] | None] = queue.Queue()
        self._done: queue.SimpleQueue[tuple[Work, Result]] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{target.name} #{i}", daemon=True)
            for i in range(count)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop retrying; every thread ends after its current send."""
        self.abandon.set()
        for _ in self._threads:
            self._todo.put(None)

    def send(self, work: Work, alert: dict[str, Any]) -> None:
        self._todo.put((work, alert))

    def results(self, timeout_s: float = 0.0) -> list[tuple[Work, Result]]:
        """What finished: waits up to ``timeout_s`` for the first result, then takes every one
        already there."""
        out: list[tuple[Work, Result]] = []
        if timeout_s > 0:
            try:
                out.append(self._done.get(timeout=timeout_s))
            except queue.Empty:
                return out
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def _work(self) -> None:
        while True:
            try:
                item = self._todo.get(timeout=1.0)
            except queue.Empty:
                if self.abandon.is_set():
                    return
                continue
            if item is None:
                return
            work, alert = item
            try:
                result = self.target.send(alert, self.abandon)
            except Exception as exc:  # a bug in a target must not lose the alert: DLQ it
                log.exception("%s: sending alert %s failed", self.target.name, work.alert_id)
                result = Failed(exc, 0)
            self._done.put((work, result))
