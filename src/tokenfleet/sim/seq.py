"""A request while it lives on a replica (mutable, internal to the simulator)."""

from __future__ import annotations

from tokenfleet.workload.request import Request

WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3


class Seq:
    """Progress of one request. In the decode phase ``gen`` and the KV length are stored at a base
    iteration of the replica and derived as ``base + (replica.iters - iter_base)``: a run of decode
    iterations advances every sequence without touching any of them."""

    __slots__ = (
        "admitted_s",
        "cached",
        "class_idx",
        "done",
        "first_token_s",
        "gen",
        "hashes",
        "hint",
        "iter_base",
        "key",
        "kv_base",
        "order",
        "out_total",
        "preemptions",
        "prefilled",
        "private",
        "prompt",
        "refs",
        "req",
        "state",
        "total_cached",
        "user",
    )

    def __init__(
        self,
        req: Request,
        class_idx: int = 0,
        out_total: int | None = None,
        prefilled: bool = False,
        gen: int = 0,
        first_token_s: float = -1.0,
    ) -> None:
        self.req = req
        self.class_idx = class_idx
        self.prompt = req.prompt_tokens
        self.out_total = req.output_tokens if out_total is None else out_total
        self.prefilled = prefilled  # KV arrives from elsewhere (disaggregated decode): no prefill compute
        self.hashes = req.prefix_hash_ids
        self.done = 0
        self.cached = 0
        self.total_cached = 0
        self.hint = 0  # cached prompt tokens expected when it arrived (the replica's TTFT prediction)
        self.gen = gen
        self.iter_base = 0
        self.kv_base = 0
        self.key = 0
        self.order = 0
        self.private = 0
        self.refs: tuple[int, ...] = ()
        self.state = WAITING
        self.first_token_s = first_token_s
        self.admitted_s = -1.0
        self.preemptions = 0
        self.user: object = None  # free slot for the driver (the engine keeps routing data here)


__all__ = ["DECODE", "DONE", "PREFILL", "WAITING", "Seq"]
