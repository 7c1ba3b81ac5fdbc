"""Facility power and energy: PUE on top of IT power, energy per output token."""

from __future__ import annotations

from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.speculative import SpecDecode
from tokenfleet.perf.steady import Operating, steady_round

DEFAULT_PUE = 1.2  # AI-purpose liquid-cooled site (hyperscale 1.1-1.2; shared/data/hardware/energy_notes.md)


def facility_w(it_power_w: float, pue: float = DEFAULT_PUE) -> float:
    """Facility power drawn for ``it_power_w`` of IT load."""
    return it_power_w * pue


def operating_power_w(dep: Deployment, op: Operating, isl: float, osl: float,
                      spec: SpecDecode | None = None) -> float:
    """IT power of a replica running at an operating point (utilisation from the step breakdown).

    With speculation on an SRAM-dataflow device the draft occupies its own systems and draws its own
    power; on an HBM device it shares the target's chips, whose busy fraction is the sum of both.
    """
    if op.step_s <= 0 or op.batch <= 0:
        return dep.idle_power_w + (spec.draft.idle_power_w if spec is not None and dep.hw.is_sram else 0.0)
    busy = min(1.0, op.request_rate / max(op.batch / (op.step_s * osl), 1e-12))
    if spec is None:
        prefill = op.batch * isl / osl
        cost = dep.step(round(prefill), op.batch, int(op.batch * (isl + osl / 2.0)),
                        (op.batch / osl) * 0.5 * isl * isl)
        return dep.power_w(cost.utilisation * busy)
    rnd = steady_round(dep, spec, op.batch, isl, osl)
    draft_busy, target_busy = (b / rnd.time_s for b in rnd.busy_s())
    if dep.hw.is_sram:
        return dep.power_w(target_busy * busy) + spec.draft.power_w(draft_busy * busy)
    return dep.power_w((target_busy + draft_busy) * busy)


def joules_per_output_token(dep: Deployment, op: Operating, isl: float, osl: float,
                            pue: float = DEFAULT_PUE, spec: SpecDecode | None = None) -> float:
    """Facility energy per output token at an operating point."""
    if op.output_tok_s <= 0:
        return float("inf")
    return facility_w(operating_power_w(dep, op, isl, osl, spec), pue) / op.output_tok_s
