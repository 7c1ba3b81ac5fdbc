"""The fleet problem's coefficients, linear in its variables so the MILP (:mod:`tokenfleet.plan.milp`) can
use them. Units inside: MW and $M per year, so coefficients stay within a few orders of magnitude.

Variables, in this order: ``n_j`` replicas of each option (integer), ``s_h`` purchasable units of each
hardware (integer), ``x_f`` requests/s of one class routed to one option (a **flow**; continuous). An option
is a replica (hardware, layout) sized at one class's SLO, its *anchor*; its flows are the anchor and every
class of the same model whose SLO the anchor's covers (each target at least as loose), each with its own
rate per replica at the anchor's SLO and lengths of its own (:class:`~tokenfleet.plan.capacity.Option`).
So classes on one model share replicas, sized at the tightest SLO among them. A replica's time is shared
by its flows: ``sum_f x_f / rate_f <= n_j``.

Power. A replica at utilisation ``u`` draws ``idle + u (peak - idle)``, so with flows::

    IT draw (peak)   = sum_h s_h c_h idle_chip_h                       every chip of every unit at idle
                     + sum_j n_j (idle_j - chips_j idle_chip_h)        a replica over its chips' idle floor
                     + sum_f x_f (peak_f - idle_j) / rate_f            load
    IT draw (average)= the same with each flow at its class's mean / sized rate
    provisioned MW   = nameplate: sum_h s_h x unit nameplate W x PUE / oversubscription      (default)
                       measured_peak: IT draw (peak) x PUE / oversubscription
    cost $/yr        = sum_h s_h (unit price / depreciation_years + rent)
                     + energy $/MWh x 8760 x IT draw (average) x PUE + facility $/MW / life x provisioned MW

The power budget, the vendor shares by power and the ``power`` objective use provisioned MW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import Economics, HardwareEcon

POWER_BASES = ("nameplate", "measured_peak")


@dataclass(frozen=True, slots=True)
class Limits:
    """The constraint settings one solve uses (changed by binding analysis, Pareto sweeps, sensitivity)."""

    power_budget_mw: float | None = None
    max_vendor_share: float = 1.0
    share_basis: str = "power"
    min_vendors: int = 1
    min_vendor_share: float = 0.0
    budget_usd_per_year: float | None = None
    supply_caps: bool = True
    power_basis: str = "nameplate"  # what the budget holds: units' nameplate x PUE, or modelled peak draw x PUE
    oversubscription: float = 1.0  # provisioned MW = basis MW / oversubscription


@dataclass(frozen=True)
class Problem:
    options: list[Option]
    hardware: list[HardwareEcon]
    demands: list[Demand]
    sized_rps: np.ndarray  # per class: peak x (1 + headroom)
    econ: Economics
    limits: Limits
    # derived coefficient arrays (filled by build())
    hw_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flow_opt: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # option of each flow
    flow_cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # class of each flow
    flow_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per replica, requests/s
    draw_n: np.ndarray = field(default_factory=lambda: np.zeros(0))  # facility MW (peak) per replica
    draw_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per unit (its chips at idle)
    draw_x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per request/s of a flow, at peak
    avg_x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per request/s of a flow, on average
    plate_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # nameplate facility MW per unit
    capex_musd_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fixed_musd_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # depreciation + rent per unit

    @property
    def vendors(self) -> list[str]:
        return sorted({h.vendor for h in self.hardware})

    @property
    def rate(self) -> np.ndarray:
        """Each option's rate for its anchor class (requests/s per replica)."""
        return np.array([o.rate_rps for o in self.options])

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(options, hardware, flows)."""
        return len(self.options), len(self.hardware), len(self.flow_opt)


def build(options: list[Option], hardware: list[HardwareEcon], demands: list[Demand], sized_rps: np.ndarray,
          econ: Economics, limits: Limits) -> Problem:
    """Coefficients per replica (n), unit (s) and flow (x)."""
    h_idx = {h.hw_id: i for i, h in enumerate(hardware)}
    hw_of = np.array([h_idx[o.hw_id] for o in options], np.int64)
    pue = econ.pue
    idle_chip = np.array([h.idle_w_per_chip for h in hardware])
    cps = np.array([h.chips_per_system for h in hardware], float)
    fo, fc, fr, fx, fa = [], [], [], [], []
    for j, o in enumerate(options):
        for c, rate, peak_w in o.flows:
            if rate <= 0:
                continue
            d = demands[c]
            mean_frac = min(1.0, d.mean_rps / float(sized_rps[c])) if sized_rps[c] > 0 else 1.0
            per_rps = max(peak_w - o.idle_it_w, 0.0) / rate * pue / 1e6
            fo.append(j)
            fc.append(c)
            fr.append(rate)
            fx.append(per_rps)
            fa.append(per_rps * mean_frac)
    chips = np.array([o.chips for o in options], float)
    idle_w = np.array([o.idle_it_w for o in options])
    draw_n = (idle_w - idle_chip[hw_of] * chips) * pue / 1e6 if options else np.zeros(0)
    fixed = np.array([h.capex_per_system_usd / econ.depreciation_years + h.rent_per_system_usd_per_year
                      for h in hardware]) / 1e6
    return replace(
        Problem(options, hardware, demands, np.asarray(sized_rps, float), econ, limits),
        hw_of=hw_of, flow_opt=np.array(fo, np.int64), flow_cls=np.array(fc, np.int64), flow_rate=np.array(fr),
        draw_n=draw_n, draw_s=idle_chip * cps * pue / 1e6, draw_x=np.array(fx), avg_x=np.array(fa),
        plate_s=np.array([h.unit_power_w for h in hardware]) * pue / 1e6,
        capex_musd_s=np.array([h.capex_per_system_usd for h in hardware]) / 1e6, fixed_musd_s=fixed,
    )


@dataclass(frozen=True, slots=True)
class Rows:
    """Linear rows over the core variables ``[n, s, x]``."""

    draw: np.ndarray  # modelled peak facility MW
    avg: np.ndarray  # average facility MW
    provisioned: np.ndarray  # MW the budget holds (power basis / oversubscription)
    cost: np.ndarray  # TCO $M per year


def rows(p: Problem) -> Rows:
    nj, _, nf = p.sizes
    z_n, z_x = np.zeros(nj), np.zeros(nf)
    draw = np.concatenate([p.draw_n, p.draw_s, p.draw_x])
    avg = np.concatenate([p.draw_n, p.draw_s, p.avg_x])
    lim = p.limits
    if lim.power_basis == "nameplate":
        prov = np.concatenate([z_n, p.plate_s, z_x]) / lim.oversubscription
    else:
        prov = draw / lim.oversubscription
    e = p.econ.energy_usd_per_year_per_facility_w()  # $M/yr per facility MW
    f = p.econ.facility_usd_per_year_per_facility_w()
    cost = avg * e + prov * f + np.concatenate([z_n, p.fixed_musd_s, z_x])
    return Rows(draw, avg, prov, cost)


def placement_arrays(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per option: replicas per unit and units per replica (see :mod:`tokenfleet.plan.units`)."""
    rpu, upr = [], []
    for j, o in enumerate(p.options):
        c = p.hardware[p.hw_of[j]].chips_per_system
        if o.chips <= c:
            rpu.append(c // o.chips)
            upr.append(1)
        else:
            rpu.append(1)
            upr.append(math.ceil(o.chips / c))
    return np.array(rpu, float), np.array(upr, float)


def unit_chips(p: Problem) -> np.ndarray:
    """Per option: the chips of a unit one replica takes up ("effective chips"): ``c / (c // r)`` when ``r``
    chips fit ``c // r`` times in a unit of ``c`` chips, ``c x ceil(r / c)`` when a replica spans units.

    With the power-of-two layouts the planner builds, replicas packed largest first then fill the units
    exactly (16-chip replicas take 18 of an NVL72's 72 chips, four to a rack; 8-GPU servers hold 8 / r), so
    ``sum_j eff_j n_j <= chips_per_unit x units`` is the packing itself, not a relaxation of it.
    """
    rpu, upr = placement_arrays(p)
    c = np.array([p.hardware[h].chips_per_system for h in p.hw_of], float)
    return np.where(upr > 1, c * upr, c / rpu)


def vendor_rows(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per vendor and total share basis (provisioned MW, or capex) as rows over ``[n, s, x]``."""
    nj = len(p.options)
    vendors = p.vendors
    v_of_h = np.array([vendors.index(h.vendor) for h in p.hardware], np.int64)
    if p.limits.share_basis == "capex":
        base = np.concatenate([np.zeros(nj), p.capex_musd_s, np.zeros(len(p.flow_opt))])
    else:
        base = rows(p).provisioned
    v_of_col = np.concatenate([v_of_h[p.hw_of], v_of_h, v_of_h[p.hw_of[p.flow_opt]]]).astype(np.int64)
    out = np.zeros((len(vendors), base.size))
    out[v_of_col, np.arange(base.size)] = base
    return out, base


__all__ = ["POWER_BASES", "Limits", "Problem", "Rows", "build", "placement_arrays", "rows", "unit_chips",
           "vendor_rows"]
