"""The two read-only inputs of every routing decision: what the endpoints look like, and what is asked.

Both are frozen, slotted dataclasses. The live gateway fills :class:`EndpointSnapshot` from telemetry
(``observed_*`` moving averages included); the simulator keeps the same columns in an
:class:`~tokenfleet.routing.table.EndpointTable` that it updates in place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """One serving endpoint (a replica, or a backend URL in the gateway) at the moment of a decision.

    ``predicted_ttft_s`` is the predicted time to first token of a request with an empty prompt sent
    now (queueing + per-request overhead); a prompt adds ``prompt_tokens / prefill_tok_per_s``.
    ``predicted_tpot_s`` is the predicted time per output token at the endpoint's current batch.
    ``joules_per_token`` is IT energy per output token at typical load (0 = unknown).
    ``waiting_prefill_tokens`` are prompt tokens sent to the endpoint and not yet prefilled;
    ``prefill_wait_s`` is the predicted time before a new request's own prefill starts (that prefill work
    beside the running batch, per-request overhead included) and ``batch_prefill_tok_per_s`` the rate at
    which it would prefill a new prompt beside its running batch (0 = use ``prefill_tok_per_s``).
    """

    endpoint_id: str
    pool: str
    hw_id: str
    model: str
    in_flight: int = 0  # requests sent and not finished (queued + running)
    queued: int = 0  # requests waiting, not yet scheduled on the engine
    running_seqs: int = 0
    kv_use_frac: float = 0.0  # KV cache blocks in use / capacity, in [0, 1]
    predicted_ttft_s: float = 0.0
    predicted_tpot_s: float = 0.0
    prefill_tok_per_s: float = 0.0  # 0 = unknown (then the prompt adds nothing to the prediction)
    usd_per_mtok: float = 0.0  # cost per million output tokens at typical load
    power_w: float = 0.0  # IT power now
    joules_per_token: float = 0.0
    healthy: bool = True
    observed_ttft_s: float | None = None  # moving averages (gateway); None = no observation yet
    observed_tpot_s: float | None = None
    tiers: frozenset[str] = frozenset()  # e.g. {"ultra-low-latency"}: the classes this endpoint is meant for
    waiting_prefill_tokens: int = 0
    prefill_wait_s: float = 0.0
    batch_prefill_tok_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a policy may know about a request. SLOs of ``None`` mean "no target". ``prefix_hashes`` name
    the prompt's leading KV blocks (:mod:`tokenfleet.workload.prefix`; empty = unknown)."""

    class_name: str
    model: str
    prompt_tokens: int
    max_output_tokens: int
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    tier: str | None = None
    prefix_hashes: tuple[int, ...] = ()


__all__ = ["EndpointSnapshot", "RequestInfo"]
