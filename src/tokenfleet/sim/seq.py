"""A request while it lives on a replica (mutable, internal to the simulator).

Part of the simulator core: ``seq.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

from tokenfleet.workload.request import Request

WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3
NO_HASHES: tuple[int, ...] = ()


class Seq:
    """Progress of one request. In the decode phase ``gen`` and the KV length are stored at a base
    iteration of the replica and derived as ``base + (replica.iters - iter_base)``: a run of decode
    iterations advances every sequence without touching any of them.

    ``req`` is the :class:`Request` it was made from, or None for sequences the event loop makes straight
    from request columns (:func:`new_seq`); ``request_id``, ``arrival_s`` and ``prompt_tokens`` hold what
    the simulator needs of it either way."""

    __slots__ = (
        "admitted_s",
        "arrival_s",
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
        "output_tokens",
        "preemptions",
        "prefilled",
        "private",
        "prompt",
        "prompt_tokens",
        "refs",
        "req",
        "request_id",
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
        self._fill(req, req.request_id, req.arrival_s, req.prompt_tokens, req.output_tokens, req.prefix_hash_ids,
                   class_idx, req.output_tokens if out_total is None else out_total)
        self.prefilled = prefilled  # KV arrives from elsewhere (disaggregated decode): no prefill compute
        self.gen = gen
        self.first_token_s = first_token_s

    def _fill(self, req: Request, request_id: int, arrival_s: float, prompt_tokens: int, output_tokens: int,
              hashes: tuple[int, ...], class_idx: int, out_total: int) -> None:
        self.req = req
        self.request_id = request_id
        self.arrival_s = arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.class_idx = class_idx
        self.prompt = prompt_tokens
        self.out_total = out_total
        self.prefilled = False
        self.hashes = hashes
        self.done = 0
        self.cached = 0
        self.total_cached = 0
        self.hint = 0  # cached prompt tokens expected when it arrived (the replica's TTFT prediction)
        self.gen = 0
        self.iter_base = 0
        self.kv_base = 0
        self.key = 0
        self.order = 0
        self.private = 0
        self.refs: tuple[int, ...] = NO_HASHES
        self.state = WAITING
        self.first_token_s = -1.0
        self.admitted_s = -1.0
        self.preemptions = 0
        self.user: object = None  # free slot for the driver (the engine keeps routing data here)


def new_seq(
    request_id: int,
    arrival_s: float,
    prompt_tokens: int,
    output_tokens: int,
    hashes: tuple[int, ...],
    class_idx: int,
    out_total: int,
) -> Seq:
    """A :class:`Seq` straight from request columns (no :class:`Request` object): the event loop's path."""
    s = Seq.__new__(Seq)
    s._fill(None, request_id, arrival_s, prompt_tokens, output_tokens, hashes, class_idx, out_total)  # type: ignore[arg-type]
    return s


__all__ = ["DECODE", "DONE", "PREFILL", "WAITING", "Seq", "new_seq"]
