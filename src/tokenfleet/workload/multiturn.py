"""A synthetic multi-turn chat workload whose prompts share prefixes the way real conversations do.

Sessions start as a Poisson process. Each opens with one of ``system_prompts`` system prompts, chosen
with Zipf popularity (exponent ``zipf_s``: a few hot prefixes shared by many sessions), and runs a
geometric number of turns (mean ``mean_turns``). Turn ``k``'s prompt is the system prompt, every earlier
user message and answer, and the new user message, so it extends turn ``k - 1``'s prompt; the user
thinks for an exponential time (mean ``think_s``) after each answer (answer time is not modelled: the
next turn starts ``think_s`` after the previous one arrived). User messages and answers have lognormal
lengths (means ``user_tokens``, ``output_tokens``, coefficient of variation 1).

Each request names its full ``block_tokens``-token prompt blocks with :func:`tokenfleet.workload.prefix.
chain_hashes` over block keys (system prompt ``s``'s block ``j`` is the same everywhere; a session's own
blocks are its own), so the hashes behave exactly like hashes of real token blocks: equal hash = equal
prefix. ``block_tokens`` should equal the replicas' ``prefix_block_tokens`` (512 by default).
"""

from __future__ import annotations

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.workload.prefix import chain_hashes
from tokenfleet.workload.request import RequestBatch, make_batch


def _lognormal(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    sigma2 = np.log(2.0)  # cv = 1
    return np.maximum(1, np.round(rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size))).astype(int)


def multi_turn(
    sessions_per_s: float,
    duration_s: float,
    *,
    system_prompts: int = 16,
    system_tokens: tuple[int, int] = (1024, 4096),
    zipf_s: float = 1.1,
    mean_turns: float = 5.0,
    user_tokens: float = 300.0,
    output_tokens: float = 250.0,
    think_s: float = 30.0,
    block_tokens: int = 512,
    seed: int = 0,
) -> RequestBatch:
    """Requests of the sessions that start within ``duration_s`` (later turns may arrive after it)."""
    for name, v in (("sessions_per_s", sessions_per_s), ("duration_s", duration_s), ("mean_turns", mean_turns),
                    ("user_tokens", user_tokens), ("output_tokens", output_tokens), ("think_s", think_s)):
        if not (v > 0 and np.isfinite(v)):
            raise InputError(f"{name} must be a positive number, got {v}", where="multi_turn")
    if system_prompts < 1 or block_tokens < 1 or not 0 < system_tokens[0] <= system_tokens[1]:
        raise InputError("system_prompts and block_tokens must be >= 1 and 0 < system_tokens[0] <= [1]",
                         where="multi_turn")
    rng = np.random.default_rng(seed)
    n_sessions = int(rng.poisson(sessions_per_s * duration_s))
    starts = np.sort(rng.uniform(0.0, duration_s, n_sessions))
    sys_len = rng.integers(system_tokens[0], system_tokens[1] + 1, system_prompts)
    pop = 1.0 / np.arange(1, system_prompts + 1) ** zipf_s
    sys_of = rng.choice(system_prompts, n_sessions, p=pop / pop.sum())
    turns = rng.geometric(1.0 / mean_turns, n_sessions)
    arr: list[float] = []
    prompt: list[int] = []
    out: list[int] = []
    hashes: list[tuple[int, ...]] = []
    for s in range(n_sessions):
        sp = int(sys_of[s])
        n = int(turns[s])
        users = _lognormal(rng, user_tokens, n)
        answers = _lognormal(rng, output_tokens, n)
        gaps = rng.exponential(think_s, n)
        t, ctx = float(starts[s]), int(sys_len[sp])
        for k in range(n):
            p = ctx + int(users[k])
            sys_full = int(sys_len[sp]) // block_tokens
            keys = [f"s{sp}/{j}" if j < sys_full else f"c{s}/{j}" for j in range(p // block_tokens)]
            arr.append(t)
            prompt.append(p)
            out.append(int(answers[k]))
            hashes.append(chain_hashes(keys))
            ctx = p + int(answers[k])
            t += float(gaps[k])
    order = np.argsort(np.array(arr), kind="stable")
    lens = np.array([len(hashes[i]) for i in order], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)])
    ids = np.fromiter((h for i in order for h in hashes[i]), dtype=np.int64, count=int(offsets[-1]))
    a = np.array(arr)[order]
    return make_batch(a - (a[0] if a.size else 0.0), np.array(prompt)[order], np.array(out)[order], offsets, ids)


__all__ = ["multi_turn"]
