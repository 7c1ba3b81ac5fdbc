"""Accelerators and the systems they are sold in, loaded from packaged ``data/hardware.yaml``.

A :class:`HardwareSpec` describes one *unit the performance model places work on*; its ``family`` chooses
the device model (:mod:`tokenfleet.perf.devices`): a GPU / TPU / Trainium chip (``hbm``), one Cerebras
CS-2/CS-3 system, i.e. one wafer (``wafer``), one Groq LPU chip (``lpu``), one SambaNova SN40L socket with
SRAM, HBM and DDR (``tiered``). ``num_chips`` in a
layout counts these units. The purchasable system (an 8-GPU server, an NVL72 rack, a CS-3) is described
by ``chips_per_system``, ``system_power_w`` and ``system_price_usd``. Rack entries such as
``gb200-nvl72`` point at their chip through ``base_chip`` and repeat its per-chip figures.

Every figure keeps its source (``sources``: field -> URL or note) and the flags it carried in
``shared/data/hardware/specs.csv`` (``ESTIMATE``, ``DERIVED``, ``CONFLICTING``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Family = Literal["hbm", "wafer", "lpu", "tiered"]
PRECISIONS = ("bf16", "fp8", "fp4", "int8")
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5, "int4": 0.5}


@dataclass(frozen=True, slots=True)
class HardwareSpec:
    hw_id: str
    vendor: str
    name: str
    family: Family
    form: str  # "chip", "system", "rack"
    # dense (non-sparse) peak per chip/unit, TFLOPS, by precision; a precision absent runs at the
    # next wider one that is present (fp4 -> fp8 -> bf16)
    dense_tflops: dict[str, float]
    memory_gb: float  # where weights and KV live: HBM per chip (hbm, tiered); on-chip SRAM per unit (wafer, lpu)
    memory_bw_tbps: float  # bandwidth of that memory
    scaleup_bw_gbps: float  # per chip, one direction, GB/s
    scaleup_domain: int  # chips in one scale-up (NVLink / IF / ICI) domain
    chip_power_w: float  # TDP of one chip/unit (for a CS-3: the whole system)
    chips_per_system: int  # chips in the unit sold (8 for HGX, 72 for NVL72, 1 for a CS-3)
    system_power_w: float  # max power of that system, host, NICs and fans included
    price_usd: float  # estimated price of one chip/unit; system price = price_usd * chips_per_system
    calibration_group: str  # fitted efficiency parameters: one per architecture generation ("nvidia-hopper")
    year: int
    source_url: str
    sources: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # field -> ESTIMATE / DERIVED / CONFLICTING
    base_chip: str | None = None  # for rack / system entries: the chip entry they are made of
    default_precision: str = "bf16"  # weight precision the vendor serves when a result does not state one
    cores: int = 0  # wafer: processing elements on the 2-D mesh (each with its own SRAM)
    sram_gb: float = 0.0  # tiered: on-chip SRAM per unit (weights stream through it from HBM)
    ddr_gb: float = 0.0  # tiered: DDR per unit (third tier: holds further models, not read per token)
    # hbm: what runs the matmuls. GPU tensor cores run a GEMM of a few rows (a small decode batch) as a
    # memory-bound small-M kernel; a systolic array (TPU MXU, Trainium tensor engine) loads a whole weight tile
    # into the array whatever the rows, so a few-row matmul costs what an array's height of rows does
    matmul_unit: Literal["tensor-core", "systolic"] = "tensor-core"
    notes: str = ""

    def tflops(self, precision: str) -> float:
        """Dense peak TFLOPS at ``precision``, falling back to the next wider precision available."""
        order = {"fp4": ("fp4", "fp8", "bf16"), "int4": ("fp4", "int8", "fp8", "bf16"),
                 "fp8": ("fp8", "bf16"), "int8": ("int8", "fp8", "bf16"),
                 "bf16": ("bf16",), "fp16": ("bf16",)}.get(precision, ("bf16",))
        for p in order:
            if self.dense_tflops.get(p):
                return self.dense_tflops[p]
        return self.dense_tflops["bf16"]

    @property
    def system_price_usd(self) -> float:
        return self.price_usd * self.chips_per_system

    @property
    def host_power_w_per_chip(self) -> float:
        """System power per chip minus the chip's own TDP: host CPUs, NICs, fans, switches."""
        return max(0.0, self.system_power_w / self.chips_per_system - self.chip_power_w)

    @property
    def is_sram(self) -> bool:
        """Kept for callers written before device families: True for every non-HBM family. New code asks
        the device model (``perf.devices.device_for(hw)``) what it needs instead."""
        return self.family != "hbm"
