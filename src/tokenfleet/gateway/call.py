"""One client request as the gateway forwards it (:class:`Call`), how it ended (:class:`Outcome`) and what
the HTTP layer sends back (:class:`Reply`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tokenfleet.gateway import tokens


@dataclass(slots=True)
class Call:
    """One client request as the gateway sees it."""

    request_id: str
    key_id: str
    path: str
    model: str  # public name, class suffix removed
    slo_class: str
    tier: str
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    max_queue_ms: float
    body: dict[str, Any]
    stream: bool
    client_wants_usage: bool
    prompt_tokens_est: int
    max_output_tokens: int
    n: int = 1
    pools: frozenset[str] | None = None  # pools the key may use (None: all)
    budgeted: bool = False  # the key has a budget: reserve before forwarding
    t0: float = field(default_factory=time.perf_counter)
    ts: float = field(default_factory=time.time)
    # the request named no max_tokens: the gateway forwards this cap (key's, else each pool's; None: the
    # pool's own) and reserves for it
    cap: int | None = None
    capped: bool = False
    gone: bool = False  # the client disconnected before a non-streamed answer (the HTTP layer sets it)
    recorded: bool = False  # its ledger row is written


@dataclass(slots=True)
class Outcome:
    status: int = 200
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None


@dataclass(slots=True)
class Reply:
    """What the HTTP layer sends: a complete body, or an async iterator of SSE bytes."""

    status: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def estimate_prompt_tokens(raw_body_len: int) -> int:
    """Routing-time prompt estimate from the body size (cheap; usage from the backend replaces it)."""
    return max(1, raw_body_len // tokens.CHARS_PER_TOKEN)


__all__ = ["Call", "Outcome", "Reply", "estimate_prompt_tokens"]
