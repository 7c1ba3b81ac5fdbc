"""Wafer-scale engines (Cerebras CS-2 / CS-3) in the PLMR view of WaferLLM (He et al., OSDI 2025).

A WSE-3 is a 2-D mesh of ~900,000 cores, each with 48 KB of SRAM and a router; weights and KV are spread
over the cores of the systems a model spans, layers laid out in space and pipelined across systems. One
token's time through the pipeline (the latency floor of a decode step) is, per layer:

* **P / M** (massive parallelism, small per-core memory): every core streams its own slice of the layer's
  weights once per token: ``resident bytes / (cores x per-core SRAM bandwidth)`` summed over the layers a
  system holds, i.e. ``(layers / systems) x resident bytes / (SRAM bandwidth x bw_eff)``. A mixture of
  experts reads only the experts a token routes to, but those experts' cores hold the same share of bytes
  as any other, so the time per layer follows the bytes per core, not the active parameter count.
* **L** (non-uniform mesh latency): each GEMV ends in a reduction across the cores of its region, ``2
  sqrt(cores per layer)`` hops of one clock each (``CORE_HOP_S``), four GEMV groups per layer.
* **R** (limited routing) and everything else the software does per layer: ``layer_latency_s``, fitted
  per software generation (the vendor's serving stack).

Between systems a token's activations (``hidden x 2`` bytes) cross 1.2 Tb/s Ethernet through a switch:
``SWITCH_LATENCY_S`` plus serialisation — a physical hop of a few microseconds, not a fitted one.
Batched work beyond the first token is spread over all systems' cores at ``flops_eff`` of peak.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import ACT_BYTES, resident_weight_bytes
from tokenfleet.perf.devices.dataflow import PipelinedSRAM

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams

CORE_HOP_S = 1.0 / 1.1e9  # one mesh hop per clock at ~1.1 GHz (WaferLLM: single-cycle neighbour links)
GEMV_GROUPS_PER_LAYER = 4  # qkv, attention out, gate/up, down: each ends in a mesh reduction
SWITCH_LATENCY_S = 2e-6  # ESTIMATE: one 100/400 GbE switch traversal plus NIC, system to system


def system_hop_s(model: ModelSpec, hw: HardwareSpec) -> float:
    """Physically sized system-to-system hop: switch latency + activation bytes over the system's I/O."""
    return SWITCH_LATENCY_S + model.hidden * ACT_BYTES / (hw.scaleup_bw_gbps * 1e9)


def mesh_reduce_s(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> float:
    """Mesh latency per layer: GEMV reductions across the cores that hold one layer."""
    cores = hw.cores or 900_000
    cores_per_layer = cores * layout.num_chips / model.n_layers
    return GEMV_GROUPS_PER_LAYER * 2.0 * math.sqrt(cores_per_layer) * CORE_HOP_S


class WaferDevice(PipelinedSRAM):
    name: str = "wafer"
    unit: str = "systems"
    fit_params: tuple[str, ...] = ("layer_latency_s", "bw_eff")

    def latency_floor_s(self, model: ModelSpec, hw: HardwareSpec, layout: Layout, params: EfficiencyParams) -> float:
        n = layout.num_chips
        stream = (model.n_layers / n) * resident_weight_bytes(model, layout.weight_precision) / (
            hw.memory_bw_tbps * 1e12 * params.bw_eff)
        per_layer = params.layer_latency_s + mesh_reduce_s(model, hw, layout)
        return model.n_layers * per_layer + stream + (n - 1) * system_hop_s(model, hw)
