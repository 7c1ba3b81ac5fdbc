"""Facility power and energy: PUE on top of IT power, energy per output token."""

from __future__ import annotations

from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.steady import Operating

DEFAULT_PUE = 1.2  # AI-purpose liquid-cooled site (hyperscale 1.1-1.2; shared/data/hardware/energy_notes.md)


def facility_w(it_power_w: float, pue: float = DEFAULT_PUE) -> float:
    """Facility power drawn for ``it_power_w`` of IT load."""
    return it_power_w * pue


def operating_power_w(dep: Deployment, op: Operating, isl: float, osl: float) -> float:
    """IT power of a replica running at an operating point (utilisation from the step breakdown)."""
    prefill = op.batch * isl / osl
    cost = dep.step(round(prefill), op.batch, int(op.batch * (isl + osl / 2.0)),
                    (op.batch / osl) * 0.5 * isl * isl)
    busy = min(1.0, op.request_rate / max(op.batch / (op.step_s * osl), 1e-12)) if op.step_s > 0 else 0.0
    return dep.power_w(cost.utilisation * busy)


def joules_per_output_token(dep: Deployment, op: Operating, isl: float, osl: float,
                            pue: float = DEFAULT_PUE) -> float:
    """Facility energy per output token at an operating point."""
    if op.output_tok_s <= 0:
        return float("inf")
    return facility_w(operating_power_w(dep, op, isl, osl), pue) / op.output_tok_s
