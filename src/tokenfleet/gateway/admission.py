"""Admission control: hold a request that no backend can serve within its SLO, or refuse it clearly.

The router answers which backends can meet a request's SLO now. If none can, a request whose class allows
queueing (``max_queue_ms``) waits for a backend to finish something and asks again; when the wait runs
out it is refused with 429 (backends are healthy but too loaded for this SLO: retry later) or 503 (no
healthy backend serves the model at all).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from tokenfleet.gateway.openai_models import ApiError

T = TypeVar("T")


class Admission:
    """Wakes waiting requests whenever capacity may have freed up (a request finished)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []
        self.waiting = 0

    def notify(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def _wait(self, timeout_s: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self.waiting += 1
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            pass
        finally:
            self.waiting -= 1

    async def admit(self, choose: Callable[[], list[T]], max_queue_ms: float,
                    healthy: Callable[[], bool], what: str) -> list[T]:
        """Return ``choose()`` once it is non-empty, waiting up to ``max_queue_ms``; else raise."""
        ranked = choose()
        if ranked:
            return ranked
        deadline = time.monotonic() + max_queue_ms / 1e3
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._wait(remaining)
            ranked = choose()
            if ranked:
                return ranked
        if not healthy():
            raise ApiError(503, f"no healthy backend can serve {what} now (all failing or circuit open)",
                           "server_error", "no_healthy_backend", headers={"retry-after": "1"})
        raise ApiError(429, f"no backend can meet the SLO of {what} at the current load"
                            + (f" (waited {max_queue_ms:g} ms)" if max_queue_ms else ""),
                       "requests", "slo_capacity_exceeded", headers={"retry-after": "1"})


__all__ = ["Admission"]
