"""One model replica on one layout of one hardware type: step time, KV capacity and power.

:class:`Deployment` precomputes per-step coefficients once so that :meth:`Deployment.step_time` costs a
few float operations: the simulator calls it millions of times. Two device families share the interface:

* ``hbm`` (GPU, TPU, Trainium): roofline ``max(FLOPs / achieved FLOPS, bytes / achieved bandwidth)`` per
  step, plus tensor-parallel all-reduces or expert-parallel all-to-alls over the scale-up link, plus a
  fixed per-iteration overhead. MoE weights read per step grow with the distinct experts the batch touches.
* ``sram-dataflow`` (CS-3, LPU): weights and KV sit in on-chip SRAM across ``num_chips`` units, layers
  pipelined across them. A step costs the time for a token to cross every layer and every inter-unit hop
  (the latency floor) plus the batch's work spread over all units.

A *step* is one engine iteration over a batch described by totals: ``prefill_tokens`` processed this step,
``decode_seqs`` sequences emitting one token each, and ``context_tokens``, the summed context of those
sequences. ``prefill_attn_pairs`` is the sum over prefill chunks of chunk x (prior context + chunk / 2);
if not given it is taken as one prompt of ``prefill_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet import catalog
from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec
from tokenfleet.perf.layout import Layout, check_fits, kv_bytes_per_token, kv_capacity_tokens, min_layout
from tokenfleet.perf.params import EfficiencyParams, params_for

ACT_BYTES = 2.0  # activations exchanged between chips in bf16
INTER_NODE_GBPS = 50.0  # per-GPU scale-out bandwidth (400 Gb/s NIC) when a layout leaves its NVLink domain


@dataclass(frozen=True, slots=True)
class StepCost:
    time_s: float
    compute_s: float
    memory_s: float
    comm_s: float
    overhead_s: float

    @property
    def utilisation(self) -> float:
        """Fraction of the step the chips spend on compute or memory traffic (drives dynamic power)."""
        return min(1.0, max(self.compute_s, self.memory_s) / self.time_s) if self.time_s > 0 else 0.0


class Deployment:
    """A model replica on ``layout.num_chips`` units of ``hw``. Raises LayoutError if it does not fit."""

    __slots__ = (
        "_attn_flops",
        "_comm_fixed",
        "_comm_per_tok",
        "_dense_bytes",
        "_dense_mm_flops",
        "_expert_bytes",
        "_expert_m_half",
        "_expert_mm_flops",
        "_inv_attn_flops",
        "_inv_bw",
        "_inv_flops",
        "_kv_bytes",
        "_lat_floor",
        "_m_half",
        "_miss",
        "_mm_flops",
        "_seq_overhead",
        "_tok_per_expert",
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
        self.params = p = params or params_for(hw.calibration_group, hw.family)
        n = layout.num_chips
        wb = BYTES_PER_PARAM[layout.weight_precision]
        self.kv_capacity_tokens = kv_capacity_tokens(model, hw, layout)
        self._kv_bytes = kv_bytes_per_token(model, layout.kv_precision)
        self._mm_flops = 2.0 * model.matmul_params_per_token
        # matmul FLOPs per token split into dense weights (every token) and routed experts (k of E)
        self._expert_mm_flops = 2.0 * model.n_moe_layers * model.n_active_experts * model.expert_params
        self._dense_mm_flops = self._mm_flops - self._expert_mm_flops
        self._tok_per_expert = model.n_active_experts / model.n_experts if model.is_moe else 1.0
        self._m_half = p.gemm_m_half
        self._expert_m_half = p.expert_m_half
        self._attn_flops = model.attn_flops_per_context_token()
        self._expert_bytes = model.expert_params_total * wb
        self._dense_bytes = model.total_params * wb - self._expert_bytes
        # probability that one token misses a given routed expert: touched fraction = 1 - miss ** tokens
        self._miss = 1.0 - model.n_active_experts / model.n_experts if model.is_moe else 0.0
        self._inv_flops = 1.0 / (n * hw.tflops(layout.weight_precision) * 1e12 * p.flops_eff)
        # attention math runs at the KV-cache precision (fp8 or bf16), not at fp4 weight precision
        attn_prec = "bf16" if layout.kv_precision in ("fp4", "int4") else layout.kv_precision
        self._inv_attn_flops = 1.0 / (n * hw.tflops(attn_prec) * 1e12 * p.flops_eff)
        self._inv_bw = 1.0 / (n * hw.memory_bw_tbps * 1e12 * p.bw_eff)
        self._comm_fixed, self._comm_per_tok = self._comm_coefficients()
        if hw.is_sram:
            self._lat_floor = model.n_layers * p.layer_latency_s + (n - 1) * p.hop_latency_s
        else:
            self._lat_floor = p.step_overhead_s
        self._seq_overhead = 0.0 if hw.is_sram else p.seq_overhead_s

    def _comm_coefficients(self) -> tuple[float, float]:
        """Per-step collective cost as fixed latency + seconds per token processed."""
        m, hw, lay, p = self.model, self.hw, self.layout, self.params
        if self.hw.is_sram or lay.num_chips == 1:
            return 0.0, 0.0
        # tensor- and expert-parallel groups stay inside one scale-up domain (NVLink, Infinity Fabric, ICI);
        # only pipeline hops between domains fall back to the scale-out network
        link_bps = hw.scaleup_bw_gbps * 1e9 * p.link_eff
        hop_bps = (hw.scaleup_bw_gbps if lay.num_chips <= hw.scaleup_domain else INTER_NODE_GBPS) * 1e9 * p.link_eff
        fixed = per_tok = 0.0
        if lay.tp > 1:  # two all-reduces per layer (attention out, FFN out); ring volume 2 (tp-1)/tp
            n_coll = 2 * m.n_layers
            fixed += n_coll * p.collective_latency_s
            per_tok += n_coll * 2 * (lay.tp - 1) / lay.tp * m.hidden * ACT_BYTES / link_bps / lay.pp
        if m.is_moe and lay.num_chips > 1:  # dispatch + combine all-to-all per MoE layer, spread over n links
            n = lay.num_chips
            copies = min(m.n_active_experts, n) * (n - 1) / n  # remote destinations of one token
            fixed += 2 * m.n_moe_layers * p.collective_latency_s
            per_tok += 2 * m.n_moe_layers * copies * m.hidden * ACT_BYTES / (n * (link_bps if n <= hw.scaleup_domain
                                                                                   else hop_bps))
        if lay.pp > 1:
            fixed += (lay.pp - 1) * p.collective_latency_s
            per_tok += (lay.pp - 1) * m.hidden * ACT_BYTES / hop_bps
        return fixed, per_tok

    # ---- the hot path ------------------------------------------------------------------------------
    def _compute_s(self, tokens: int, attn_pairs: float) -> float:
        """Matmul time (GEMM efficiency m / (m + m_half) for m rows per weight matrix) plus attention."""
        mh = self._m_half
        dense = self._dense_mm_flops * (tokens + mh)  # = flops * tokens / eff(tokens)
        if self._expert_mm_flops:
            m = tokens * self._tok_per_expert
            dense += self._expert_mm_flops * tokens * (m + self._expert_m_half) / m
        return dense * self._inv_flops + self._attn_flops * attn_pairs * self._inv_attn_flops

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0) -> float:
        """Seconds for one iteration over the batch (0 for an empty batch)."""
        tokens = prefill_tokens + decode_seqs
        if tokens <= 0:
            return 0.0
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        comp = self._compute_s(tokens, prefill_attn_pairs + context_tokens)
        wbytes = self._dense_bytes
        if self._expert_bytes:
            wbytes += self._expert_bytes * (1.0 - self._miss ** tokens)
        mem = (wbytes + self._kv_bytes * (context_tokens + prefill_tokens)) * self._inv_bw
        if self.hw.is_sram:
            return self._lat_floor + comp + mem
        return ((comp if comp > mem else mem) + self._comm_fixed + self._comm_per_tok * tokens + self._lat_floor
                + self._seq_overhead * (decode_seqs + (1 if prefill_tokens else 0)))

    def step(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
             prefill_attn_pairs: float = -1.0) -> StepCost:
        """The step time broken down (for utilisation, power and reports)."""
        total = self.step_time(prefill_tokens, decode_seqs, context_tokens, prefill_attn_pairs)
        tokens = prefill_tokens + decode_seqs
        if prefill_attn_pairs < 0:
            prefill_attn_pairs = 0.5 * prefill_tokens * prefill_tokens
        comp = self._compute_s(tokens, prefill_attn_pairs + context_tokens)
        wbytes = self._dense_bytes + (self._expert_bytes * (1.0 - self._miss ** tokens) if self._expert_bytes else 0)
        mem = (wbytes + self._kv_bytes * (context_tokens + prefill_tokens)) * self._inv_bw
        comm = self._comm_fixed + self._comm_per_tok * tokens if tokens else 0.0
        overhead = total - max(comp, mem) - comm if not self.hw.is_sram else self._lat_floor
        return StepCost(total, comp, mem, comm, overhead if tokens else 0.0)

    # ---- power ---------------------------------------------------------------------------------------
    @property
    def num_chips(self) -> int:
        return self.layout.num_chips

    @property
    def idle_power_w(self) -> float:
        """IT power of the replica's chips plus their share of host / switch power, at idle."""
        hw = self.hw
        return self.num_chips * (self.params.idle_power_frac * hw.chip_power_w + hw.host_power_w_per_chip)

    @property
    def peak_power_w(self) -> float:
        return self.num_chips * (self.hw.chip_power_w + self.hw.host_power_w_per_chip)

    def power_w(self, utilisation: float) -> float:
        """IT power at a utilisation in [0, 1]: idle floor plus the dynamic part, linear in utilisation."""
        u = min(1.0, max(0.0, utilisation))
        return self.idle_power_w + u * (self.peak_power_w - self.idle_power_w)

    def describe(self) -> str:
        return f"{self.model.model_id} on {self.num_chips}x {self.hw.hw_id} ({self.layout.describe()})"


def deploy(model: str | ModelSpec, hw: str | HardwareSpec, layout: Layout | None = None,
           weight_precision: str | None = None, kv_precision: str | None = None,
           params: EfficiencyParams | None = None) -> Deployment:
    """Build a :class:`Deployment`; with no layout, the smallest valid one (:func:`min_layout`)."""
    m = catalog.model(model) if isinstance(model, str) else model
    h = catalog.hardware(hw) if isinstance(hw, str) else hw
    lay = layout or min_layout(m, h, weight_precision, kv_precision)
    return Deployment(m, h, lay, params)
