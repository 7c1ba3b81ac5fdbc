"""Groq LPUs: deterministic chips with 230 MB of SRAM each and no DRAM; a model spans hundreds of chips
(a 70B model in int8 ~320), layers pipelined chip to chip over C2C links.

A token's time through the pipeline is ``n_layers x layer_latency_s`` (the compute and synchronisation of
each layer), plus ``(chips - 1) x hop_latency_s`` (one C2C hop per chip boundary, ~0.1 us), plus the time
each chip takes to stream its own weights once (``bytes / (SRAM bandwidth x bw_eff)`` summed over chips,
which run one after the other for a single token), plus ``token_loop_s``: the generated token's way back
from the last chip to the first (logits out, sampling, the next embedding in), paid once per token
whatever the depth. A mixture of experts spreads a layer's experts over the chips of one pipeline stage and
only those holding the token's ``k`` experts stream, side by side: the sum runs over the active bytes
(dense weights plus ``k / E`` of the routed experts), not all that is resident. The experts sit on other
chips than the layer's attention and router, so a MoE layer is two pipeline stages, not one: the token goes
out to the chips holding its experts and its combined output comes back before the next layer starts (the
dispatch and combine that an expert-parallel GPU does with an all-to-all), which costs a second
``layer_latency_s`` per MoE layer. ``layer_latency_s`` and
``token_loop_s`` are fitted (GroqCloud's 8B, 70B and gpt-oss-120b speeds follow the depth plus a constant,
not the chip count).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import weight_bytes_split
from tokenfleet.perf.devices.dataflow import PipelinedSRAM

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams

# pipeline stages a MoE layer takes: attention and router, then the routed experts on their own chips
MOE_STAGES_PER_LAYER = 2


class LPUDevice(PipelinedSRAM):
    name: str = "lpu"
    unit: str = "chips"
    fit_params: tuple[str, ...] = ("layer_latency_s", "token_loop_s")

    def latency_floor_s(self, model: ModelSpec, hw: HardwareSpec, layout: Layout, params: EfficiencyParams) -> float:
        dense, expert = weight_bytes_split(model, layout.weight_precision)
        active = dense + (expert * model.n_active_experts / model.n_experts if model.is_moe else 0.0)
        stream = active / (hw.memory_bw_tbps * 1e12 * params.bw_eff)
        stages = model.n_layers * (MOE_STAGES_PER_LAYER if model.is_moe else 1)
        return (stages * params.layer_latency_s + (layout.num_chips - 1) * params.hop_latency_s + stream
                + params.token_loop_s)
