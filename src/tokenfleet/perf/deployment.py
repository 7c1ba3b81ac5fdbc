"""One model replica on one layout of one hardware type: step time, KV capacity and power.

:class:`Deployment` asks the hardware's device family (:mod:`tokenfleet.perf.devices`: ``hbm``, ``wafer``,
``lpu``, ``tiered``) for the step's coefficients once, so that :meth:`Deployment.step_time` costs a few
float operations: the simulator calls it millions of times. The formula is in
:class:`~tokenfleet.perf.devices.base.StepCoefficients`; the families differ in how they fill it in.

A *step* is one engine iteration over a batch described by totals: ``prefill_tokens`` processed this step,
``decode_seqs`` sequences emitting one token each, and ``context_tokens``, the summed context of those
sequences. ``prefill_attn_pairs`` is the sum over prefill chunks of chunk x (prior context + chunk / 2);
if not given it is taken as one prompt of ``prefill_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.perf import power_model
from tokenfleet.perf.devices import DeviceFamily, StepCoefficients, device_for
from tokenfleet.perf.layout import Layout, check_fits, kv_capacity_tokens, min_layout
from tokenfleet.perf.params import EfficiencyParams, params_for_hardware

ACT_BYTES = 2.0  # kept for callers; the families use devices.base.ACT_BYTES


@dataclass(frozen=True, slots=True)
class StepCost:
    time_s: float
    compute_s: float
    memory_s: float
    comm_s: float
    overhead_s: float
    # the part of compute_s the GEMMs spend on row padding (the tiles a small batch under-fills, m_half): the
    # tensor cores work on zeros, so power counts it as memory-bound time, not compute
    padding_s: float = 0.0

    @property
    def utilisation(self) -> float:
        """Fraction of the step the chips spend on compute or memory traffic (drives dynamic power)."""
        return min(1.0, max(self.compute_s, self.memory_s) / self.time_s) if self.time_s > 0 else 0.0


class Deployment:
    """A model replica on ``layout.num_chips`` units of ``hw``. Raises LayoutError if it does not fit."""

    __slots__ = (
        "_a",
        "_attn",
        "_c0",
        "_cf",
        "_ct",
        "_ctok",
        "_db",
        "_dbi",
        "_dm",
        "_eb",
        "_ebi",
        "_ef",
        "_em",
        "_emf",
        "_emfe",
        "_ep",
        "_fixed",
        "_floor",
        "_ib",
        "_if",
        "_kv",
        "_kvi",
        "_mb",
        "_mh",
        "_miss",
        "_mt",
        "_overlap",
        "_so",
        "_wb",
        "_wbi",
        "_wf",
        "coefficients",
        "device",
        "hw",
        "kv_capacity_tokens",
        "layout",
        "model",
        "params",
    )

    def __init__(self, model: ModelSpec, hw: HardwareSpec, layout: Layout,
                 params: EfficiencyParams | None = None) -> None:
        check_fits(model, hw, layout)
        self.model, self.hw, self.layout = model, hw, layout
        self.params = p = params or params_for_hardware(hw)
        self.device: DeviceFamily = device_for(hw)
        self.kv_capacity_tokens = kv_capacity_tokens(model, hw, layout)
        c = self.coefficients = self.device.coefficients(model, hw, layout, p)
        self._set(c)

    def _set(self, c: StepCoefficients) -> None:
        # flattened for the hot path (attribute reads on slots are the cheapest Python offers)
        self._dm, self._mh, self._em, self._ef, self._miss = (c.dense_mm_flops, c.m_half, c.expert_mm_flops,
                                                              c.expert_fill, c.miss)
        self._attn, self._if, self._a = c.attn_flops * c.inv_attn_flops, c.inv_flops, c.inv_attn_flops
        self._db, self._eb, self._kv, self._ib = c.dense_bytes, c.expert_bytes, c.kv_bytes, c.inv_bw
        self._wf, self._wb = c.window_flops * c.inv_attn_flops, c.window_bytes
        self._cf, self._ct, self._floor, self._so = (c.comm_fixed_s, c.comm_per_token_s, c.latency_floor_s,
                                                     c.seq_overhead_s)
        self._overlap = c.overlap
        self._fixed = c.comm_fixed_s + c.latency_floor_s
        self._mb = c.micro_batches
        self._mt = c.small_m_rows
        self._ep = c.expert_pair_flops * c.inv_flops  # per decoding token (MoE per-pair overhead)
        if self._mb > 1 and type(self) is Deployment:
            self.__class__ = PipelinedDeployment  # its own step_time; the one-stage hot path stays as is
        # the same terms pre-multiplied, for step_time: compute = c0 + ctok * tokens (+ experts), memory likewise
        self._c0 = self._dm * self._mh * self._if
        self._ctok = self._dm * self._if + (self._em * self._if if self._miss else 0.0)
        self._emfe = self._em * self._ef * self._if
        self._emf = self._em * self._if
        self._dbi, self._ebi, self._kvi, self._wbi = (self._db * self._ib, self._eb * self._ib, self._kv * self._ib,
                                                      self._wb * self._ib)
    # ---- the hot path ------------------------------------------------------------------------------
    def _pad_rows(self, tokens: float) -> float:
        """Rows of tile inefficiency the dense GEMMs of a ``tokens``-row step pay (``small_m_rows``)."""
        return self._mh if tokens >= self._mt else self._mh * tokens / self._mt

    def _parts(self, tokens: int, decode_seqs: int, context_tokens: int, prefill_tokens: int,
               pairs: float, decoding: float) -> tuple[float, float, float, float]:
        """(GEMM compute, weight reads, attention compute, KV reads) of a step, in seconds."""
        pad = self._pad_rows(tokens)
        if self._miss:
            touched = 1.0 - self._miss ** tokens
            comp = ((self._dm * (tokens + pad) + self._em * (tokens + self._ef * touched)) * self._if
                    + self._ep * decoding)
            wbytes = self._db + self._eb * touched
        else:
            comp = self._dm * (tokens + pad) * self._if
            wbytes = self._db
        attn = self._attn * pairs + self._wf * tokens
        kv = (self._kv * (context_tokens + prefill_tokens) + self._wb * decode_seqs) * self._ib
        return comp, wbytes * self._ib, attn, kv

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0, decoding: float = -1.0) -> float:
        """Seconds for one iteration over the batch (0 for an empty batch). ``decoding``: the tokens that pay a
        MoE layer's per-pair overhead (default ``decode_seqs``; a speculative verify passes its tokens)."""
        tokens = prefill_tokens + decode_seqs
        if tokens <= 0:
            return 0.0
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        # _parts with its products precomputed: this is the simulator's innermost call. The weight GEMMs and
        # attention are separate kernels: each is bound by its own compute or memory traffic, one after the other
        comp = (self._c0 if tokens >= self._mt else self._c0 * tokens / self._mt) + self._ctok * tokens
        mem = self._dbi
        if self._miss:
            touched = 1.0 - self._miss ** tokens
            comp += self._emfe * touched + self._ep * (decode_seqs if decoding < 0 else decoding)
            mem += self._ebi * touched
        acomp = self._attn * (prefill_attn_pairs + context_tokens) + self._wf * tokens
        amem = self._kvi * (context_tokens + prefill_tokens) + self._wbi * decode_seqs
        if not self._overlap:
            return self._floor + comp + mem + acomp + amem
        if comp < mem:
            comp = mem
        if acomp < amem:
            acomp = amem
        return comp + acomp + self._fixed + self._ct * tokens + self._so * (decode_seqs + (1 if prefill_tokens else 0))

    def step(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
             prefill_attn_pairs: float = -1.0, decoding: float = -1.0) -> StepCost:
        """The step time broken down (for utilisation, power and reports)."""
        total = self.step_time(prefill_tokens, decode_seqs, context_tokens, prefill_attn_pairs, decoding)
        tokens = prefill_tokens + decode_seqs
        if tokens <= 0:
            return StepCost(0.0, 0.0, 0.0, 0.0, 0.0)
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        comp, mem, acomp, amem = self._parts(tokens, decode_seqs, context_tokens, prefill_tokens,
                                             prefill_attn_pairs + context_tokens,
                                             decode_seqs if decoding < 0 else decoding)
        if not self._overlap:
            return StepCost(total, comp + acomp, mem + amem, 0.0, self._floor)
        comm = self._cf + self._ct * tokens
        busy = max(comp, mem) + max(acomp, amem)
        pad = self._dm * self._pad_rows(tokens) * self._if
        if self._miss:
            pad += self._em * self._ef * (1.0 - self._miss ** tokens) * self._if
        return StepCost(total, comp + acomp, mem + amem, comm, total - busy - comm, min(pad, comp))

    # ---- power ---------------------------------------------------------------------------------------
    @property
    def num_chips(self) -> int:
        return self.layout.num_chips

    @property
    def idle_power_w(self) -> float:
        """IT power of the replica's chips plus their share of host / switch power, at idle
        (:mod:`tokenfleet.perf.power_model`, fitted per family on published wall-power runs)."""
        return power_model.idle_w(self.hw, self.num_chips)

    @property
    def peak_power_w(self) -> float:
        return power_model.peak_w(self.hw, self.num_chips)

    def power_w(self, utilisation: float) -> float:
        """IT power at an activity in [0, 1]: idle floor plus the dynamic part, linear in activity."""
        return power_model.draw_w(self.hw, self.num_chips, utilisation)

    def describe(self) -> str:
        return f"{self.model.model_id} on {self.num_chips}x {self.hw.hw_id} ({self.layout.describe()})"


class PipelinedDeployment(Deployment):
    """A pipeline-parallel HBM replica (``StepCoefficients.micro_batches`` > 1): its batch runs as micro-batches
    of ``batch / micro_batches`` sequences, each crossing every stage in turn. A stage reads its weights once
    per micro-batch and a token waits for all stages, so a step is ``micro_batches`` times a micro-batch's trip
    (the per-step launch and collective latency paid once): pipelining adds chips' compute, not a token's speed."""

    __slots__ = ()

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0, decoding: float = -1.0) -> float:
        if prefill_tokens + decode_seqs <= 0:
            return 0.0
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        mb = self._mb
        trip = Deployment.step_time(self, prefill_tokens / mb, decode_seqs / mb,  # type: ignore[arg-type]
                                    context_tokens / mb, prefill_attn_pairs / mb,  # type: ignore[arg-type]
                                    (decode_seqs if decoding < 0 else decoding) / mb)
        return mb * (trip - self._fixed) + self._fixed


def deploy(model: str | ModelSpec, hw: str | HardwareSpec, layout: Layout | None = None,
           weight_precision: str | None = None, kv_precision: str | None = None,
           params: EfficiencyParams | None = None) -> Deployment:
    """Build a :class:`Deployment`; with no layout, the smallest valid one (:func:`min_layout`)."""
    m = catalog.model(model) if isinstance(model, str) else model
    h = catalog.hardware(hw) if isinstance(hw, str) else hw
    lay = layout or min_layout(m, h, weight_precision, kv_precision)
    return Deployment(m, h, lay, params)
