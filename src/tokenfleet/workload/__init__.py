"""Workloads: requests, real-trace loaders, synthetic arrivals and lengths, lazy merged streams.

* :class:`Request` (one request) and :class:`RequestBatch` (columns; what loaders return).
* :func:`load_trace` / :func:`load_azure` / :func:`load_mooncake` / :func:`load_burstgpt`.
* :func:`poisson_arrivals`, :func:`gamma_arrivals`, :class:`Diurnal`, :class:`LengthDist`.
* :class:`TraceSource`, :class:`SyntheticSource`, :func:`merge` — streams for the simulator.
"""

from tokenfleet.workload.request import Request, RequestBatch, make_batch
from tokenfleet.workload.stream import HASH_NAMESPACE, Source, SyntheticSource, TraceSource, merge
from tokenfleet.workload.synthetic import Diurnal, LengthDist, gamma_arrivals, poisson_arrivals
from tokenfleet.workload.traces import load_azure, load_burstgpt, load_mooncake, load_trace

__all__ = [
    "HASH_NAMESPACE",
    "Diurnal",
    "LengthDist",
    "Request",
    "RequestBatch",
    "Source",
    "SyntheticSource",
    "TraceSource",
    "gamma_arrivals",
    "load_azure",
    "load_burstgpt",
    "load_mooncake",
    "load_trace",
    "make_batch",
    "merge",
    "poisson_arrivals",
]
