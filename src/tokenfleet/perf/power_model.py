"""Wall power of accelerator systems: idle floor, dynamic part, host share, power caps — by device family.

For ``n`` accelerators of one hardware entry at an *activity* ``a`` in [0, 1] (the busy fraction of their
compute and memory units, :func:`activity`)::

    chip_w(a)  = idle_frac x TDP + a x (cap - idle_frac x TDP)        cap = min(power cap, TDP)
    P(a)       = n x [ (1 + loss_frac) x chip_w(a)  +  host_w x (1 - fan_frac if liquid) ]

``host_w`` is the host's draw per accelerator (CPUs, DRAM, NICs, switches, fans at their floor), measured
on HBM nodes; a family without measurements takes ``host_frac`` of the catalog's nameplate host share
(system power per accelerator minus its TDP) instead, the fraction the measured HBM nodes draw of theirs.
``loss_frac`` is what grows with the accelerators' own draw (power-supply and regulator losses, fans
spinning up). A liquid-cooled node has no fans in its scope (``fan_frac`` of the host draw). ``P`` never
decreases in ``a``.

The parameters are fitted per family by :mod:`tokenfleet.perf.power_calibrate` on
``published_power.csv`` (MLPerf wall-power runs) and stored with the rows they came from in packaged
``data/power_calibration.yaml``. Families without measured power (wafer-scale, LPU, three-tier) keep the
physical assumptions below, each with its reason, and the host fraction measured on HBM nodes.

:func:`activity` weighs memory-bound time below compute-bound time: HBM-bound decode runs well under TDP
(Splitwise, Patel et al., ISCA 2024, section III: the token phase leaves much of the power budget unused,
the prompt phase runs near TDP).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from tokenfleet.catalog import HardwareSpec

MEMORY_BOUND_WEIGHT = 0.6  # dynamic power of memory-bound time relative to compute-bound (ESTIMATE, Splitwise)


@dataclass(frozen=True, slots=True)
class PowerParams:
    """Power parameters of one device family (fractions; see the module docstring for the formula)."""

    idle_frac: float = 0.3  # accelerator draw at idle / TDP
    loss_frac: float = 0.06  # supply, regulator and fan power that grows with accelerator draw
    host_w: float | None = None  # host, switch and fan draw per accelerator, W (None: host_frac x nameplate)
    host_frac: float = 0.3  # host draw / nameplate host share per accelerator, where host_w is not measured
    fan_frac: float = 0.25  # share of the host draw that is fans (absent in a liquid-cooled node's scope)
    source: str = "assumption"
    # what a family without measurements takes from the measured HBM nodes (servers with hosts, supplies, fans)
    inherit: tuple[str, ...] = ("host_frac", "loss_frac", "fan_frac")

    def replace(self, **changes: Any) -> PowerParams:
        return dataclasses.replace(self, **changes)


FITTED = ("idle_frac", "loss_frac", "host_w", "fan_frac")
BOUNDS: dict[str, tuple[float, float]] = {
    "idle_frac": (0.03, 0.5), "loss_frac": (0.0, 0.25), "host_w": (0.0, 1500.0), "fan_frac": (0.0, 0.6),
}
# What a family without measured power assumes (before the measured HBM host fraction is shared with it).
FAMILY_DEFAULTS: dict[str, PowerParams] = {
    "hbm": PowerParams(),
    # a CS-3's ~23 kW is the whole system at the wall (catalog); SRAM leakage and the always-on fabric keep
    # a large floor (no published idle figure: assumption)
    "wafer": PowerParams(idle_frac=0.3, loss_frac=0.0, fan_frac=0.0, inherit=(),
                         source="assumption: no published wafer-scale power measurement"),
    "lpu": PowerParams(idle_frac=0.3, source="assumption: no published LPU power measurement"),
    "tiered": PowerParams(idle_frac=0.3, source="assumption: no published SN40L power measurement"),
}
FAMILY_DEFAULTS["sram-dataflow"] = FAMILY_DEFAULTS["lpu"]


@cache
def _stored() -> dict[str, Any]:
    path = resources.files("tokenfleet.perf").joinpath("data", "power_calibration.yaml")
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def clear_cache() -> None:
    _stored.cache_clear()
    params_for_family.cache_clear()


@cache
def params_for_family(family: str) -> PowerParams:
    """Fitted parameters of ``family``; else its assumptions with the host fraction measured on HBM nodes."""
    fams = _stored().get("families", {})
    base = FAMILY_DEFAULTS.get(family, FAMILY_DEFAULTS["lpu"])
    if family in fams:
        return base.replace(**fams[family]["params"], source=f"fitted on {fams[family]['source']}")
    if "hbm" in fams and base.inherit:
        hbm = {**fams["hbm"]["params"], "host_frac": fams["hbm"].get("host_frac", base.host_frac)}
        taken = {k: hbm[k] for k in base.inherit if k in hbm}
        return base.replace(**taken, source=f"{base.source}; {', '.join(taken)} measured on hbm nodes")
    return base


def _resolve(hw: HardwareSpec, params: PowerParams | None) -> PowerParams:
    return params if params is not None else params_for_family(hw.family)


def _cap(hw: HardwareSpec, cap_w: float | None) -> float:
    return hw.chip_power_w if cap_w is None else min(cap_w, hw.chip_power_w)


def host_w(hw: HardwareSpec, num_chips: int, liquid: bool = False, params: PowerParams | None = None) -> float:
    p = _resolve(hw, params)
    per_chip = p.host_w if p.host_w is not None else p.host_frac * hw.host_power_w_per_chip
    return num_chips * per_chip * (1.0 - p.fan_frac if liquid else 1.0)


def draw_w(hw: HardwareSpec, num_chips: int, activity: float, cap_w: float | None = None, liquid: bool = False,
           params: PowerParams | None = None) -> float:
    """Wall power of ``num_chips`` units (their host share included) at ``activity`` in [0, 1]."""
    p = _resolve(hw, params)
    a = min(1.0, max(0.0, activity)) if activity == activity else 0.0
    idle_chip = min(p.idle_frac * hw.chip_power_w, _cap(hw, cap_w))
    chip = idle_chip + a * (_cap(hw, cap_w) - idle_chip)
    return num_chips * (1.0 + p.loss_frac) * chip + host_w(hw, num_chips, liquid, p)


def idle_w(hw: HardwareSpec, num_chips: int, cap_w: float | None = None, liquid: bool = False,
           params: PowerParams | None = None) -> float:
    return draw_w(hw, num_chips, 0.0, cap_w, liquid, params)


def peak_w(hw: HardwareSpec, num_chips: int, cap_w: float | None = None, liquid: bool = False,
           params: PowerParams | None = None) -> float:
    return draw_w(hw, num_chips, 1.0, cap_w, liquid, params)


def activity(compute_s: float, memory_s: float, time_s: float) -> float:
    """Busy fraction of a step: compute-bound time counts fully, memory-only time at
    :data:`MEMORY_BOUND_WEIGHT`, overheads and latency floors (launches, a token crossing a wafer) not at all."""
    if time_s <= 0:
        return 0.0
    comp = min(compute_s, time_s)
    mem_only = max(0.0, min(memory_s, time_s) - comp)
    return min(1.0, (comp + MEMORY_BOUND_WEIGHT * mem_only) / time_s)


__all__ = ["BOUNDS", "FAMILY_DEFAULTS", "FITTED", "MEMORY_BOUND_WEIGHT", "PowerParams", "activity", "clear_cache",
           "draw_w", "host_w", "idle_w", "params_for_family", "peak_w"]
