"""The performance model's step time as the simulator core asks for it.

``Replica`` asks ``step_time(prefill_tokens, decode_seqs, context_tokens, prefill_attn_pairs)`` about five
times per request. In pure Python it asks the :class:`~tokenfleet.perf.Deployment` itself
(:func:`step_model` returns it). The compiled core asks a :class:`StepModel` instead: for a plain
``Deployment`` it evaluates the same formula, term for term in the same order, on the deployment's own
flattened coefficients in C (IEEE double arithmetic gives the same bits as Python's floats), which is the
difference between ~400 ns and ~10 ns a call. It checks itself against ``Deployment.step_time`` on a grid of
probe batches when built, and falls back to calling the deployment for any subclass (pipelined, speculative),
for coefficients it cannot read, and wherever a probe disagrees (the formula in ``perf.deployment`` moved on):
slower, never different.

Part of the simulator core: ``steptime.pxd`` gives the compiled twin its C types (see
:mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

from tokenfleet.perf.deployment import Deployment

try:
    import cython

    COMPILED = bool(cython.compiled)
except ImportError:  # pure Python without Cython installed
    COMPILED = False

# probe batches (prefill tokens, decode seqs, summed context, prefill attention pairs; -1 = one prompt):
# both sides of the small-M knee, prefill-only, decode-only, mixed, MoE expert touch from 1 to 1e5 tokens
PROBES = [
    (p, d, c, a)
    for p in (0, 1, 7, 63, 300, 2048, 8192, 100_000)
    for d in (0, 1, 5, 64, 256)
    for c in (0, 4096, 1_000_003)
    for a in (-1.0, 12_345.5)
]
_verdicts: dict[tuple[object, ...], bool] = {}  # coefficients -> do the probes agree (memo per fleet)
_COEFFICIENTS = ("_c0", "_mt", "_ctok", "_dbi", "_miss", "_emfe", "_ep", "_ebi", "_attn", "_wf", "_kvi", "_wbi",
                 "_overlap", "_floor", "_fixed", "_ct", "_so")


class StepModel:
    """``step_time`` of one deployment, native where it can vouch for the same bits (see the module)."""

    __slots__ = ("_attn", "_c0", "_ct", "_ctok", "_dbi", "_ebi", "_emfe", "_ep", "_fixed", "_floor", "_kvi", "_miss",
                 "_mt", "_overlap", "_so", "_wbi", "_wf", "dep", "native")

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.native = False
        if type(dep) is not Deployment:  # pipelined / speculative deployments have formulas of their own
            return
        try:
            vals = tuple(getattr(dep, name) for name in _COEFFICIENTS)
        except AttributeError:
            return
        (self._c0, self._mt, self._ctok, self._dbi, self._miss, self._emfe, self._ep, self._ebi, self._attn,
         self._wf, self._kvi, self._wbi, self._overlap, self._floor, self._fixed, self._ct, self._so) = vals
        ok = _verdicts.get(vals)
        if ok is None:
            self.native = True
            ok = all(_same(self.step_time(*p), dep.step_time(*p)) for p in PROBES)
            _verdicts[vals] = ok
        self.native = ok

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0) -> float:
        """Seconds of one iteration (``Deployment.step_time`` with ``decoding`` = ``decode_seqs``)."""
        if not self.native:
            return self.dep.step_time(prefill_tokens, decode_seqs, context_tokens, prefill_attn_pairs)
        tokens = prefill_tokens + decode_seqs
        if tokens <= 0:
            return 0.0
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        comp = (self._c0 if tokens >= self._mt else self._c0 * tokens / self._mt) + self._ctok * tokens
        mem = self._dbi
        if self._miss:
            touched = 1.0 - self._miss ** tokens
            comp += self._emfe * touched + self._ep * decode_seqs
            mem += self._ebi * touched
        acomp = self._attn * (prefill_attn_pairs + context_tokens) + self._wf * tokens
        amem = self._kvi * (context_tokens + prefill_tokens) + self._wbi * decode_seqs
        if not self._overlap:
            return self._floor + comp + mem + acomp + amem
        if comp < mem:
            comp = mem
        if acomp < amem:
            acomp = amem
        return (comp + acomp + self._fixed + self._ct * tokens
                + self._so * (decode_seqs + (1 if prefill_tokens else 0)))


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def step_model(dep: Deployment) -> StepModel | Deployment:
    """What a replica asks ``step_time`` of: the deployment itself in pure Python (no extra call), a
    :class:`StepModel` in the compiled core."""
    return StepModel(dep) if COMPILED else dep


__all__ = ["COMPILED", "PROBES", "StepModel", "step_model"]
