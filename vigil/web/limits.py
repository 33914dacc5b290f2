"""Rate and concurrency limits of ``vigil api``: token buckets (login attempts per client
address, uploads per key) and a bound on images decoded at once. Over a limit the answer is a
429 or 503 with ``Retry-After`` and nothing is accepted. In memory, per process: N replicas
allow N times the rate."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from vigil.web.images import Rejection


class Limited(Rejection):
    """A refusal the client should retry after ``retry_after`` seconds."""

    def __init__(self, status: int, reason: str, detail: str, retry_after: float) -> None:
        super().__init__(status, reason, detail)
        self.retry_after = max(1, math.ceil(retry_after))


class TokenBuckets:
    """``burst`` tokens per name, refilled at ``rate_per_s``; at most ``max_names`` buckets
    are kept (the least recently used go first), so memory stays bounded whoever asks."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_names: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_names = max_names
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0 when a token was taken; else the seconds until one will be there."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[name] = (tokens, now)
            while len(self._buckets) > self.max_names:
                self._buckets.popitem(last=False)
            return wait


class DecodeSlots:
    """At most ``size`` images decoded at once; an upload waits ``wait_s`` for a slot, then
    gets a 503. The semaphore is made on the running loop (TestClient and uvicorn each run
    their own)."""

    def __init__(self, size: int, wait_s: float) -> None:
        self.size = size
        self.wait_s = wait_s
        self._sem: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem[0] is not loop:
            self._sem = (loop, asyncio.Semaphore(self.size))
        return self._sem[1]

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        sem = self._semaphore()
        busy = Limited(
            503, "busy", f"{self.size} images are being decoded; try again shortly", 1 + self.wait_s
        )
        if not sem.locked():
            await sem.acquire()  # a free slot: taken without suspending
        elif self.wait_s <= 0:
            raise busy
        else:
            try:
                async with asyncio.timeout(self.wait_s):
                    await sem.acquire()
            except TimeoutError:
                raise busy from None
        try:
            yield
        finally:
            sem.release()
