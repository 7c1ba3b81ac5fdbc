"""What each traffic class asks of the fleet: mean and peak request rates and mean token lengths.

Synthetic arrivals give their rate directly (diurnal: peak = mean x ``peak_to_mean``; gamma bursts are
left to the verification run). Traces are read once: mean rate = requests / duration x multiplier, peak =
the busiest ``PEAK_WINDOW_S`` window, lengths = the trace means. ``plan.traffic.<class>`` overrides either
rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenfleet.plan.schema import PlanScenario
from tokenfleet.scenario import LengthSpec, Slo, TrafficClass, resolve_data_path
from tokenfleet.workload import load_trace

PEAK_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class Demand:
    name: str
    model: str
    mean_rps: float
    peak_rps: float
    isl: float  # mean prompt tokens
    osl: float  # mean output tokens
    slo: Slo

    @property
    def ttft_p99_s(self) -> float:
        """The TTFT target in seconds (inf when unset)."""
        return self.slo.ttft_s

    @property
    def tpot_p99_s(self) -> float:
        """The TPOT target in seconds (from ``min_user_tok_s`` when that is the target; inf when unset)."""
        return self.slo.tpot_s

    @property
    def min_user_tok_s(self) -> float | None:
        return self.slo.min_user_tok_s

    @property
    def output_tok_per_year(self) -> float:
        return self.mean_rps * self.osl * 365.0 * 86400.0


def length_mean(s: LengthSpec) -> float:
    if s.dist == "fixed":
        return float(s.value or 0)
    if s.dist == "uniform":
        return 0.5 * float((s.low or 0) + (s.high or 0))
    return float(min(max(s.mean or 0.0, s.min_tokens), s.max_tokens))


def _trace_stats(c: TrafficClass, base_dir: Path, seed: int) -> tuple[float, float, float, float]:
    a = c.arrivals
    assert a.trace is not None
    b = load_trace(resolve_data_path(a.trace, base_dir), a.format, seed=seed)
    dur = max(b.duration_s, 1e-9)
    mean = len(b) / dur * a.rate_multiplier
    t = b.arrival_s - b.arrival_s[0]
    w = min(PEAK_WINDOW_S, dur)
    counts = np.bincount((t // w).astype(np.int64))
    full = counts[: max(1, int(dur // w))]
    peak = float(full.max()) / w * a.rate_multiplier
    return mean, max(peak, mean), float(b.prompt_tokens.mean()), float(b.output_tokens.mean())


def class_demands(sc: PlanScenario, base_dir: Path) -> list[Demand]:
    out = []
    for i, c in enumerate(sc.traffic):
        a = c.arrivals
        isl = length_mean(c.input_tokens) if c.input_tokens else 0.0
        osl = length_mean(c.output_tokens) if c.output_tokens else 0.0
        if a.process is None or a.lengths_from_trace:
            t_mean, t_peak, t_isl, t_osl = _trace_stats(c, base_dir, sc.sim.seed * 1000 + i)
            if a.lengths_from_trace or not isl:
                isl, osl = t_isl, t_osl
        if a.process is None:
            mean, peak = t_mean, t_peak
        else:
            mean = float(a.rate_rps or 0.0)
            peak = mean * (a.peak_to_mean if a.process == "diurnal" else 1.0)
        o = sc.plan.traffic.get(c.name)
        if o is not None:
            mean = o.mean_rps or mean
            peak = o.peak_rps or max(peak, mean)
        out.append(Demand(c.name, c.model, mean, peak, max(isl, 1.0), max(osl, 1.0), c.slo.to_slo()))
    return out


__all__ = ["PEAK_WINDOW_S", "Demand", "class_demands", "length_mean"]
