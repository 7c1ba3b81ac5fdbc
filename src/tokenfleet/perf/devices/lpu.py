"""Groq LPUs: deterministic chips with 230 MB of SRAM each and no DRAM; a model spans hundreds of chips
(a 70B model in int8 ~320), layers pipelined chip to chip over C2C links.

A token's time through the pipeline is ``n_layers x layer_latency_s`` (the compute and synchronisation of
each layer), plus ``(chips - 1) x hop_latency_s`` (one C2C hop per chip boundary), plus the time each chip
takes to stream its own weights once (``resident bytes / (SRAM bandwidth x bw_eff)`` summed over chips,
which run one after the other for a single token). ``layer_latency_s`` and ``hop_latency_s`` are fitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import resident_weight_bytes
from tokenfleet.perf.devices.dataflow import PipelinedSRAM

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams


class LPUDevice(PipelinedSRAM):
    name: str = "lpu"
    unit: str = "chips"
    fit_params: tuple[str, ...] = ("layer_latency_s", "hop_latency_s")

    def latency_floor_s(self, model: ModelSpec, hw: HardwareSpec, layout: Layout, params: EfficiencyParams) -> float:
        stream = resident_weight_bytes(model, layout.weight_precision) / (hw.memory_bw_tbps * 1e12 * params.bw_eff)
        return model.n_layers * params.layer_latency_s + (layout.num_chips - 1) * params.hop_latency_s + stream
