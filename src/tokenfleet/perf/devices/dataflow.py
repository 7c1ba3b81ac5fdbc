"""What the spatial dataflow families (wafer, LPU) share: weights and KV resident in on-chip SRAM, layers
laid out in space and pipelined across units, a step = the time for a token to cross the pipeline plus the
batch's work spread over every unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import (
    StepCoefficients,
    rate_weighted_flops,
    read_bytes_per_step,
    window_terms,
)

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams

SRAM_USABLE_FRAC = 0.95


class PipelinedSRAM:
    """Base of the SRAM-resident families; subclasses give ``latency_floor_s``."""

    name: str = "dataflow"
    unit: str = "chips"
    draft_has_own_units: bool = True
    fit_params: tuple[str, ...] = ("layer_latency_s", "hop_latency_s")

    def usable_bytes(self, hw: HardwareSpec, num_chips: int) -> float:
        return num_chips * hw.memory_gb * 1e9 * SRAM_USABLE_FRAC

    def kv_replication(self, model: ModelSpec, layout: Layout) -> int:
        return 1

    def extra_resident_bytes(self, model: ModelSpec, layout: Layout) -> float:
        return 0.0

    def default_kv_precision(self, weight_precision: str) -> str:
        return "bf16" if weight_precision == "fp4" else weight_precision

    def round_up(self, hw: HardwareSpec, num_chips: int) -> int:
        return num_chips

    def schedulers(self, model: ModelSpec, layout: Layout) -> int:
        return 1

    def shape(self, hw: HardwareSpec, num_chips: int, weight_precision: str, kv_precision: str,
              tp: int | None = None, pp: int | None = None) -> Layout:
        from tokenfleet.perf.layout import Layout
        tp = tp or 1
        return Layout(num_chips, tp, pp or max(1, num_chips // tp), weight_precision, kv_precision)

    def next_sizes(self, hw: HardwareSpec, first: int, limit: int | None) -> list[int]:
        limit = limit or first * 2
        return [n for n in sorted({-(-first * 3 // 2), first * 2}) if first < n <= limit]

    def latency_floor_s(self, model: ModelSpec, hw: HardwareSpec, layout: Layout, params: EfficiencyParams) -> float:
        raise NotImplementedError

    def coefficients(self, model: ModelSpec, hw: HardwareSpec, layout: Layout,
                     params: EfficiencyParams) -> StepCoefficients:
        p, n = params, layout.num_chips
        dense_flops, expert_flops, cprec = rate_weighted_flops(model, hw, layout.weight_precision, layout.weight_only)
        dense_bytes, expert_bytes = read_bytes_per_step(model, layout.weight_precision)
        w_flops, w_bytes = window_terms(model, layout.kv_precision)
        inv_flops = 1.0 / (n * hw.tflops(cprec) * 1e12 * p.flops_eff)
        k = model.n_active_experts
        return StepCoefficients(
            dense_mm_flops=dense_flops, m_half=0.0, expert_mm_flops=expert_flops, expert_fill=0.0,
            miss=1.0 - k / model.n_experts if model.is_moe else 0.0,
            attn_flops=model.attn_flops_per_context_token(), inv_flops=inv_flops, inv_attn_flops=inv_flops,
            dense_bytes=dense_bytes, expert_bytes=expert_bytes,
            kv_bytes=model.kv_elements_per_token() * BYTES_PER_PARAM[layout.kv_precision],
            inv_bw=1.0 / (n * hw.memory_bw_tbps * 1e12 * p.bw_eff), comm_fixed_s=0.0, comm_per_token_s=0.0,
            window_flops=w_flops, window_bytes=w_bytes,
            latency_floor_s=self.latency_floor_s(model, hw, layout, p), seq_overhead_s=0.0, overlap=False)
