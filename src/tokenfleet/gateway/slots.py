"""Everything one request holds — backend slots, a breaker probe, a rate-limit token — released in one place.

A :class:`Slots` is opened for each client request and closed exactly once, however the request ends
(answered, refused, failed over, cut, the client gone, a bug): ``with Slots(...) as slots`` in the handler,
or, for a streamed answer that outlives the handler, closed by the stream's own ``finally`` and by the
HTTP layer once the response is done (closing twice is a no-op). Each attempt on a backend takes a
:class:`Lease`: the backend's in-flight count and gauge go up, and the half-open probe is taken if this
attempt is it; ending the lease (``lease.end()``, or the close of its ``Slots``) puts them back and wakes
admission. A rate-limit token taken for a request that no backend ever served is handed back.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenfleet.gateway.admission import Admission
    from tokenfleet.gateway.auth import TokenBucket
    from tokenfleet.gateway.fleet import Backend
    from tokenfleet.gateway.metrics import GatewayMetrics


class Lease:
    """One attempt's hold on one backend."""

    __slots__ = ("_gauge", "_owner", "backend", "ended", "probe")

    def __init__(self, owner: Slots, backend: Backend, gauge: Any) -> None:
        self._owner, self.backend, self._gauge = owner, backend, gauge
        self.probe = backend.breaker.on_attempt()
        backend.telemetry.start()
        backend.pool.last_tried = time.monotonic()  # fresh evidence is coming (routing.health)
        gauge.inc()
        self.ended = False

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        b = self.backend
        b.telemetry.finish()
        self._gauge.dec()
        if self.probe and b.breaker.probing:
            b.breaker.abandon_probe()  # no success or failure was recorded: the next request probes
        self._owner.admission.notify()


class Slots:
    """The context manager that owns a request's holds (see the module docstring)."""

    __slots__ = ("_bucket", "_leases", "admission", "closed", "metrics", "served")

    def __init__(self, admission: Admission, metrics: GatewayMetrics) -> None:
        self.admission, self.metrics = admission, metrics
        self._leases: list[Lease] = []
        self._bucket: TokenBucket | None = None
        self.served = False  # a backend was tried for this request (the rate-limit token is spent)
        self.closed = False

    def took_token(self, bucket: TokenBucket) -> None:
        self._bucket = bucket

    def lease(self, backend: Backend) -> Lease:
        lease = Lease(self, backend, self.metrics.child(self.metrics.in_flight, backend.name))
        self._leases.append(lease)
        self.served = True
        return lease

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for lease in self._leases:
            lease.end()
        self._leases.clear()
        if self._bucket is not None and not self.served:
            self._bucket.give_back()  # refused before any backend saw it: the token was not used
        self._bucket = None

    def __enter__(self) -> Slots:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Lease", "Slots"]
