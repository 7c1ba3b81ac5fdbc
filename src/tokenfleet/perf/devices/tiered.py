"""Three-tier memory dataflow chips (SambaNova SN40L): ~520 MB on-chip SRAM, 64 GB HBM and up to 1.5 TB DDR
per socket (Prabhakar et al., "SambaNova SN40L", arXiv 2405.07518).

Weights and KV live in HBM and stream through the SRAM, where the dataflow pipeline of each layer runs;
DDR holds further models (switched in within milliseconds) and is not read per token. A step therefore is
an HBM roofline across the tensor-parallel sockets — ``max(compute, bytes / (HBM bandwidth x bw_eff))`` —
plus the pipeline's per-layer latency ``n_layers x layer_latency_s`` and the sockets' collectives. A
speculative draft shares the sockets (it sits in the same HBM), so it has no units of its own. A fused
decoder block spans the tensor-parallel sockets attention included, so MLA models (DeepSeek) run
tensor-parallel attention with the latent KV on every socket, not a data-parallel copy of the attention
weights per socket that a batch of one would read from a single socket's HBM.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import StepCoefficients
from tokenfleet.perf.devices.hbm import HBMDevice

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams


class TieredDevice(HBMDevice):
    name: str = "tiered"
    unit: str = "chips"
    draft_has_own_units: bool = False
    # one fused decoder-block kernel runs across the sockets of the tensor-parallel group (Prabhakar et al.,
    # DAC 2025: "entire decoder blocks can be automatically fused into a single kernel call"), attention
    # included: MLA models run tensor-parallel attention, not a data-parallel copy per socket
    mla_attention_dp: bool = False
    fit_params: tuple[str, ...] = ("layer_latency_s", "bw_eff")

    def shape(self, hw: HardwareSpec, num_chips: int, weight_precision: str, kv_precision: str,
              tp: int | None = None, pp: int | None = None) -> Layout:
        return super().shape(hw, num_chips, weight_precision, kv_precision, tp or num_chips, pp)

    def round_up(self, hw: HardwareSpec, num_chips: int) -> int:
        """Whole nodes: a SambaNova node (SN40L-16) is one tensor-parallel domain that serves a model."""
        per = max(1, hw.chips_per_system)
        return -(-num_chips // per) * per

    def next_sizes(self, hw: HardwareSpec, first: int, limit: int | None) -> list[int]:
        per = max(1, hw.chips_per_system)
        return [n for n in (first + per, first * 2) if n <= (limit or first * 2) and n > first][:1]

    def default_kv_precision(self, weight_precision: str) -> str:
        return "bf16" if weight_precision == "fp4" else weight_precision

    def coefficients(self, model: ModelSpec, hw: HardwareSpec, layout: Layout,
                     params: EfficiencyParams) -> StepCoefficients:
        base = super().coefficients(model, hw, layout, params)
        return dataclasses.replace(base, m_half=0.0, expert_fill=0.0, seq_overhead_s=0.0,
                                   latency_floor_s=model.n_layers * params.layer_latency_s)
