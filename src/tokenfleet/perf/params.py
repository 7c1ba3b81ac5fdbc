"""Efficiency parameters of the performance model: a few physically meaningful numbers per device family.

They are fitted by :mod:`tokenfleet.perf.calibrate` on ``shared/data/benchmarks/published_results.csv`` and
stored, with the rows they came from, in packaged ``data/calibration.yaml``. A calibration group with no
published rows (for example Google TPUs) falls back to the same vendor's fitted generation, then to the fit
of its device family (``hbm``, ``wafer``, ``lpu``, ``tiered``), then to the physical defaults below. A vendor
whose serving software changed its speed (Cerebras' API of August 2024 and of October 2024 on) has one fit
per serving stack (:mod:`tokenfleet.perf.stacks`), stored as ``<group>@<stack>``; the group's own name
means its latest stack, what a user buying capacity today gets.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tokenfleet.catalog import HardwareSpec


@dataclass(frozen=True, slots=True)
class EfficiencyParams:
    """Achieved fractions of peak, fixed overheads and latencies. Units in the names."""

    flops_eff: float = 0.5  # achieved fraction of dense peak FLOPS in large matmuls
    gemm_m_half: float = 64.0  # rows at which a GEMM reaches half of flops_eff (tile under-fill; wgmma M = 64)
    expert_m_half: float = 64.0  # the same for MoE expert GEMMs (grouped GEMM: per-expert padding, imbalance)
    # the routed experts' grouped GEMMs relative to flops_eff (the fit keeps them at the dense kernels' 1.0
    # once the per-pair overhead below is priced)
    expert_eff: float = 1.0
    # per routed (token, expert) pair of a decoding token per MoE layer, the MoE layer's work outside the expert
    # GEMMs' FLOPs (routing, permutation to and from expert order, activation quantisation, the small-M grouped
    # GEMM's tile scheduling; a prefill chunk's rows do not pay it), as FLOPs at the expert kernels' rate: it
    # weighs most on fine-grained experts (gpt-oss, DeepSeek: 50-90 MFLOP a pair) and least on large ones
    # (Mixtral: 350 MFLOP a pair)
    expert_pair_flops: float = 1e8
    bw_eff: float = 0.8  # achieved fraction of peak memory bandwidth (HBM decode GEMV kernels reach 75-90%)
    step_overhead_s: float = 0.002  # per engine iteration: kernel launches, synchronisation
    seq_overhead_s: float = 2e-6  # per running sequence per iteration: scheduling, sampling, detokenising
    collective_latency_s: float = 5e-6  # per all-reduce / all-to-all / pipeline hop over the scale-up link
    link_eff: float = 0.7  # achieved fraction of scale-up link bandwidth
    layer_latency_s: float = 0.0  # dataflow only: fixed time for one token to cross one layer (sync, routing)
    hop_latency_s: float = 0.0  # LPU only: one chip-to-chip hop of the pipeline (wafer hops are physical)
    # LPU only: per generated token, the loop from the pipeline's last chip back to its first (logits out,
    # sampling, the next token's embedding in), whatever the model's depth or chip count
    token_loop_s: float = 0.0
    # per request: API, tokenisation, network (added to TTFT). HBM engines' published TTFTs (MLPerf loadgen,
    # LLMPerf on Trainium) are measured at the engine: no overhead beyond prefill; dataflow API rows fit it
    request_overhead_s: float = 0.0
    # serving software improves on the same chips (MLPerf H100 Llama 2 70B: +44 % from v4.1 to v5.0): compute
    # efficiency grows and per-step overheads shrink by exp(software_gain_per_year x years) around
    # SOFTWARE_REFERENCE; undated use (planning today) gets the reference software
    software_gain_per_year: float = 0.0
    # MoE serving software matured faster than dense (grouped FP4 expert GEMMs, attention data parallelism,
    # wide expert parallelism: MLPerf's DeepSeek-R1 on the same 8x B200 went 33k -> 57k tok/s Offline from
    # v5.1 to v6.0): the experts' GEMM efficiency grows and their per-pair overhead shrinks by
    # exp(moe_software_gain_per_year x years) as well
    moe_software_gain_per_year: float = 0.0
    idle_power_frac: float = 0.3  # chip power at idle as a fraction of TDP
    tpot_p99_over_mean: float = 1.15  # ratio of p99 per-request TPOT to the mean step time under load

    def replace(self, **changes: float) -> EfficiencyParams:
        return dataclasses.replace(self, **changes)

    def at_date(self, date: str) -> EfficiencyParams:
        """The parameters of the software in use at ``date`` ("2024-08", "2025-04 (v5.0)"; "" = reference)."""
        if not (self.software_gain_per_year or self.moe_software_gain_per_year):
            return self
        years = years_from_reference(date)
        if years == 0.0:
            return self
        f = math.exp(self.software_gain_per_year * years)
        moe = math.exp(self.moe_software_gain_per_year * years)
        return dataclasses.replace(self, flops_eff=min(0.95, self.flops_eff * f),
                                   step_overhead_s=self.step_overhead_s / f, seq_overhead_s=self.seq_overhead_s / f,
                                   expert_pair_flops=self.expert_pair_flops / moe,
                                   expert_eff=min(1.0, self.expert_eff * moe))

    def at_clock(self, factor: float) -> EfficiencyParams:
        """The parameters with the compute clock ``factor`` times the rated one (a power cap, :mod:`published`):
        matmul and attention rates follow the clock; memory bandwidth and host-side overheads do not."""
        if factor == 1.0:
            return self
        return dataclasses.replace(self, flops_eff=min(0.95, self.flops_eff * factor))

    def at_engine(self, speed: float) -> EfficiencyParams:
        """The parameters under a serving engine ``speed`` times as fast as the reference engine: its kernels
        reach ``speed`` times the compute and bandwidth fractions, its per-step overheads ``1 / speed``."""
        if speed == 1.0:
            return self
        return dataclasses.replace(self, flops_eff=min(0.95, self.flops_eff * speed),
                                   bw_eff=min(0.95, self.bw_eff * speed),
                                   step_overhead_s=self.step_overhead_s / speed,
                                   seq_overhead_s=self.seq_overhead_s / speed)


SOFTWARE_REFERENCE = (2026, 4)  # MLPerf Inference v6.0, the latest round in the calibration file


# MLPerf Inference rounds by their publication month, for a date given only as the round ("MLPerf v5.1")
MLPERF_ROUNDS: dict[str, tuple[int, int]] = {"4.0": (2024, 3), "4.1": (2024, 8), "5.0": (2025, 4),
                                             "5.1": (2025, 9), "6.0": (2026, 4)}


def years_from_reference(date: str) -> float:
    """Years from :data:`SOFTWARE_REFERENCE` to a published date (its month; mid-year for a bare year; an
    MLPerf round's publication month for "MLPerf v5.1"); 0 for an undated result or one after the reference
    (no extrapolation into the future)."""
    m = re.search(r"(20\d\d)(?:-(\d\d)(?!\d))?", date or "")
    if m:
        year, month = int(m.group(1)), int(m.group(2) or 6)
    elif r := re.search(r"\bv(\d\.\d)\b", date or ""):
        if r.group(1) not in MLPERF_ROUNDS:
            return 0.0
        year, month = MLPERF_ROUNDS[r.group(1)]
    else:
        return 0.0
    years = (year - SOFTWARE_REFERENCE[0]) + (month - SOFTWARE_REFERENCE[1]) / 12.0
    return min(0.0, years)


FAMILY_DEFAULTS: dict[str, EfficiencyParams] = {
    "hbm": EfficiencyParams(),
    # per-core SRAM streaming (bw_eff) and per-layer latency are fitted on the vendor's API speeds
    "wafer": EfficiencyParams(flops_eff=0.3, bw_eff=0.2, step_overhead_s=0.0, layer_latency_s=10e-6,
                              request_overhead_s=0.15),
    # C2C hops are direct SerDes links of ~0.1 us (GroqCloud's 8B on ~45 chips and 70B on ~340 chips differ
    # by their depth, not their chip count: a fit of the hop went to this bound); the token loop is fitted
    "lpu": EfficiencyParams(flops_eff=0.3, bw_eff=0.5, step_overhead_s=0.0, layer_latency_s=30e-6,
                            hop_latency_s=1e-7, token_loop_s=5e-4, request_overhead_s=0.15),
    # SN40L token generation runs at "over 75% of peak performance on 8 and 16 RDUs" (Prabhakar, DAC 2025
    # talk "SambaNova SN40L: Unleashing Agentic AI with Dataflow"): the prior of the fitted HBM efficiency
    "tiered": EfficiencyParams(flops_eff=0.3, bw_eff=0.75, step_overhead_s=0.0, layer_latency_s=10e-6,
                               request_overhead_s=0.15),
}


@cache
def _stored() -> dict[str, Any]:
    path = resources.files("tokenfleet.perf").joinpath("data", "calibration.yaml")
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def resolve(groups: dict[str, dict[str, float]], calibration_group: str, family: str) -> EfficiencyParams:
    """Parameters of ``calibration_group`` from fitted ``groups`` (key -> fitted fields): its own fit (a
    ``group@stack`` key as given, a bare group as its latest stack); else the same vendor's fitted generation
    (``amd-cdna4`` takes ``amd-cdna3``); else the fit of its whole device family; else the family defaults."""
    base = FAMILY_DEFAULTS.get(family, FAMILY_DEFAULTS["hbm"])
    own = [calibration_group] if calibration_group in groups else sorted(
        k for k in groups if k.startswith(calibration_group + "@"))[-1:]
    vendor = calibration_group.split("@")[0].split("-")[0] + "-"
    same_vendor = sorted(k for k in groups if k.startswith(vendor) and "@" not in k and not k.startswith("family:"))
    for key in (*own, *same_vendor, f"family:{family}"):
        if key in groups:
            return dataclasses.replace(base, **groups[key])
    return base


def params_for(calibration_group: str, family: str) -> EfficiencyParams:
    """Packaged (calibration.yaml) parameters of a calibration group or ``group@stack``; see :func:`resolve`."""
    stored = _stored().get("groups", {})
    return resolve({k: v["params"] for k, v in stored.items()}, calibration_group, family)


def params_for_hardware(hw: HardwareSpec) -> EfficiencyParams:
    """Planning parameters of a hardware entry: its latest calibration under the serving engine its vendor
    ships (``stacks.default_engine``: TensorRT-LLM, the reference, on NVIDIA; vLLM on AMD, TPU, Trainium),
    since an HBM generation's fit is the reference engine's physics."""
    from tokenfleet.perf import stacks
    p = params_for(hw.calibration_group, hw.family)
    engine = stacks.default_engine(hw.vendor)
    return p if hw.family != "hbm" or engine == stacks.REFERENCE_ENGINE else p.at_engine(engine_speed(engine))


def engine_speed(engine: str) -> float:
    """Packaged (calibration.yaml ``engine:<name>``) speed of a serving engine relative to the reference."""
    return float(_stored().get("groups", {}).get(f"engine:{engine}", {}).get("params", {}).get("speed", 1.0))


def clear_cache() -> None:
    _stored.cache_clear()
