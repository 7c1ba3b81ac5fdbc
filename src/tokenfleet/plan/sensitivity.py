"""What moves the answer, each figure a real re-solve of the plan's MILP.

* :func:`tornado` — one bar per input, the plan re-solved with the input at its low and at its high value:
  each candidate's unit price (x (1 -/+ ``unit_price``)), $/MWh, PUE, depreciation years, the traffic (a
  scale on every class's rate) and each hardware's predicted speed (x the interval ``speed_interval(model,
  hardware)`` returns; by default the perf model's own error, +/- ``speed``, on every model: a calibration
  with per-(model, hardware) cross-validated intervals passes its own function). Bars sort by swing.
* :func:`breakpoints` — for each class and each target of its SLO, the nearest values, looser and tighter,
  at which the fleet changes: the hardware serving the class (carrying at least 1 % of it) differs and the
  plan's objective moves by more than 0.5 % (a swap between near-equal options is not a breakpoint); found
  by a coarse scan (x 1.25, 1.5, 2 and their inverses) then bisection in log space; each with the TCO on
  both sides.

Re-solves keep the plan's objective, limits and verification derates; only the input in question moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.capacity import all_options
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.milp import Problem, Solution, build, solve
from tokenfleet.plan.schema import PlanScenario, SensitivitySpec
from tokenfleet.scenario.slo import UNITS, SloField

SpeedInterval = Callable[[str, str], tuple[float, float]]  # (model, hardware) -> (low, high) speed factors
SCAN = (1.25, 1.5, 2.0)  # looser factors tried before bisecting (tighter: their inverses)
BISECT_STEPS = 6
SENS_GAP = 1e-4  # tornado re-solves stop at this relative gap (the plan itself is solved to 1e-7)
BP_GAP = 1e-3  # breakpoint re-solves: a change counts only past CHANGE, well above this gap
CHANGE = 0.005  # a breakpoint: the hardware serving the class differs and the objective moves by > 0.5 %
MIN_SHARE = 0.01  # a hardware serves a class in a fleet's signature when it carries this share of its traffic


def fraction_interval(frac: float) -> SpeedInterval:
    """The same +/- ``frac`` on every (model, hardware): the default speed interval."""
    return lambda model, hw: (1.0 - frac, 1.0 + frac)


@dataclass(frozen=True, slots=True)
class Bar:
    input: str  # "unit price cs3", "$/MWh", "PUE", "depreciation years", "traffic", "speed cs3"
    unit: str
    base: float
    low: float
    high: float
    tco_low_usd: float | None  # None: no fleet meets the constraints at that value
    tco_high_usd: float | None
    scale_low: float | None = None  # objective goodput: the traffic scale at each end
    scale_high: float | None = None

    @property
    def swing_usd(self) -> float:
        if self.tco_low_usd is None or self.tco_high_usd is None:
            return math.inf
        return abs(self.tco_high_usd - self.tco_low_usd)


@dataclass(frozen=True, slots=True)
class Breakpoint:
    class_name: str
    slo: SloField
    base_value: float
    value: float  # the first value (from the plan's) at which the fleet differs
    direction: str  # "looser" | "tighter"
    tco_tighter_usd: float | None  # None: infeasible
    tco_looser_usd: float | None
    fleet_tighter: str
    fleet_looser: str
    change: str = ""  # only the classes whose hardware differs: "realtime cs3 -> b200"

    @property
    def distance(self) -> float:
        """How far from the plan's value, as a log ratio (the nearest breakpoint has the smallest)."""
        return abs(math.log(self.value / self.base_value))

    def sentence(self) -> str:
        """``at 199 tok/s/user, realtime: cs3 -> b200 and TCO falls to $196K``."""
        from tokenfleet.plan.text import money

        unit = UNITS[self.slo].split(" ", 1)
        v = f"{self.value:,.4g} {unit[0]}" + (f" {unit[1]}" if len(unit) > 1 else "")
        tco = self.tco_looser_usd if self.direction == "looser" else self.tco_tighter_usd
        tco0 = self.tco_tighter_usd if self.direction == "looser" else self.tco_looser_usd
        if tco is None:
            return f"at {v} for {self.class_name} no fleet meets every constraint"
        moves = "falls" if tco0 is not None and tco < tco0 else "rises"
        return f"at {v} for {self.class_name} {self.change} and TCO {moves} to {money(tco)}"


def signature(p: Problem, sol: Solution) -> dict[str, tuple[str, ...]]:
    """Which hardware serves each class: those carrying at least ``MIN_SHARE`` of its traffic (a sliver that
    rides another class's spare capacity is not a different fleet)."""
    per: dict[tuple[int, str], float] = {}
    for f in np.flatnonzero(sol.flows > 0):
        key = (int(p.flow_cls[f]), p.options[int(p.flow_opt[f])].hw_id)
        per[key] = per.get(key, 0.0) + float(sol.flows[f])
    total = np.bincount(p.flow_cls, weights=sol.flows, minlength=len(p.demands))
    out: dict[str, set[str]] = {}
    for (c, hw), v in per.items():
        if total[c] > 0 and v >= MIN_SHARE * total[c]:
            out.setdefault(p.demands[c].name, set()).add(hw)
    return {k: tuple(sorted(v)) for k, v in sorted(out.items())}


def change_text(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]] | None) -> str:
    """``realtime moves cs3 -> b200; chat moves cs3+h100 -> mi355x``: the classes whose hardware differs."""
    if after is None:
        return "no fleet meets every constraint"
    parts = [f"{k} moves {'+'.join(before.get(k, ())) or 'nowhere'} -> {'+'.join(after.get(k, ())) or 'nowhere'}"
             for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return "; ".join(parts) or "the fleet changes"


def fleet_text(sig: dict[str, tuple[str, ...]] | None, focus: str | None = None) -> str:
    if sig is None:
        return "infeasible"
    items = [(focus, sig[focus])] if focus in sig else []
    items += [(k, v) for k, v in sig.items() if k != focus]
    return "; ".join(f"{k} on {'+'.join(v)}" for k, v in items)


class _Solver:
    """Re-solves of the plan's problem with one input changed."""

    def __init__(self, sc: PlanScenario, p: Problem, derate: dict[int, float], objective: str) -> None:
        self.sc, self.p, self.derate, self.objective = sc, p, derate, objective

    def solve(self, q: Problem | None, gap: float = SENS_GAP) -> Solution | None:
        return None if q is None else solve(q, self.objective, gap=gap)

    def value(self, sol: Solution) -> float:
        """The objective's value (TCO, provisioned MW or traffic scale)."""
        return {"cost": sol.tco_usd_per_year, "power": sol.provisioned_mw}.get(self.objective, sol.scale)

    def rebuilt(self, **kw: object) -> Problem:
        p = self.p
        args = {"options": p.options, "hardware": p.hardware, "demands": p.demands, "sized_rps": p.sized_rps,
                "econ": p.econ, "limits": p.limits, **kw}
        return build(**args)  # type: ignore[arg-type]

    def with_options(self, demands: list[Demand], speed_of: Callable[[str, str], float] | None = None,
                     **kw: object) -> Problem | None:
        try:
            opts = all_options(self.sc, demands, self.derate, speed_of=speed_of)
        except InfeasibleError:
            return None
        hw = {o.hw_id for o in opts}
        hardware = [h for h in self.p.hardware if h.hw_id in hw]
        missing = hw - {h.hw_id for h in hardware}
        if missing:  # a hardware the plan had no feasible option on may now have one
            from tokenfleet.plan.economics import hardware_econ

            hardware += [hardware_econ(c) for c in self.sc.plan.candidates if c.hardware in missing]
        return self.rebuilt(options=opts, hardware=hardware, demands=demands, **kw)


def _bar(s: _Solver, name: str, unit: str, base: float, low: float, high: float,
         make: Callable[[float], Problem | None]) -> Bar:
    lo, hi = s.solve(make(low)), s.solve(make(high))
    goodput = s.objective == "goodput"
    return Bar(name, unit, base, low, high, lo.tco_usd_per_year if lo else None, hi.tco_usd_per_year if hi else None,
               (lo.scale if lo else None) if goodput else None, (hi.scale if hi else None) if goodput else None)


def tornado(sc: PlanScenario, p: Problem, derate: dict[int, float], objective: str, spec: SensitivitySpec,
            speed_interval: SpeedInterval | None = None) -> list[Bar]:
    s = _Solver(sc, p, derate, objective)
    e = p.econ
    bars = []
    f = spec.unit_price
    for h, hw in enumerate(p.hardware):
        def price(k: float, h: int = h) -> Problem:
            hws = list(p.hardware)
            hws[h] = replace(hws[h], capex_per_system_usd=hws[h].capex_per_system_usd * k,
                             rent_per_system_usd_per_year=hws[h].rent_per_system_usd_per_year * k)
            return s.rebuilt(hardware=hws)

        bars.append(_bar(s, f"unit price {hw.hw_id}", "$", hw.capex_per_system_usd or hw.rent_per_system_usd_per_year,
                         1 - f, 1 + f, price))
        bars[-1] = replace(bars[-1], low=bars[-1].base * (1 - f), high=bars[-1].base * (1 + f))
    g = spec.usd_per_mwh
    bars.append(_bar(s, "$/MWh", "$/MWh", e.usd_per_mwh, e.usd_per_mwh * (1 - g), e.usd_per_mwh * (1 + g),
                     lambda v: s.rebuilt(econ=replace(e, usd_per_mwh=v))))
    bars.append(_bar(s, "PUE", "", e.pue, max(1.0, e.pue - spec.pue), e.pue + spec.pue,
                     lambda v: s.rebuilt(econ=replace(e, pue=v))))
    d = spec.depreciation_years
    bars.append(_bar(s, "depreciation years", "years", e.depreciation_years, e.depreciation_years * (1 - d),
                     e.depreciation_years * (1 + d), lambda v: s.rebuilt(econ=replace(e, depreciation_years=v))))
    t = spec.traffic

    def traffic(k: float) -> Problem:
        ds = [replace(x, mean_rps=x.mean_rps * k, peak_rps=x.peak_rps * k) for x in p.demands]
        return s.rebuilt(demands=ds, sized_rps=p.sized_rps * k)

    bars.append(_bar(s, "traffic", "x", 1.0, 1 - t, 1 + t, traffic))
    interval = speed_interval or fraction_interval(spec.speed)
    for cand in sc.plan.candidates:
        if cand.hardware not in {h.hw_id for h in p.hardware}:
            continue

        def speed(end: float, hw_id: str = cand.hardware) -> Problem | None:
            def speed_of(model: str, hw: str) -> float:
                lo, hi = interval(model, hw)
                return (lo if end < 1 else hi) if hw == hw_id else 1.0
            return s.with_options(list(p.demands), speed_of)

        lo, hi = interval(p.demands[0].model, cand.hardware)
        bars.append(_bar(s, f"speed {cand.hardware}", "x", 1.0, lo, hi, speed))
    return sorted(bars, key=lambda b: -b.swing_usd if math.isfinite(b.swing_usd) else -math.inf)


def _value(base: float, field: SloField, factor: float) -> float:
    """The SLO value ``factor`` looser than ``base`` (a speed floor divides, a time multiplies)."""
    return base / factor if field == "min_user_tok_s" else base * factor


def breakpoints(sc: PlanScenario, p: Problem, sol: Solution, derate: dict[int, float], objective: str,
                spec: SensitivitySpec, only: set[str] | None = None,
                directions: tuple[str, ...] = ("looser", "tighter")) -> list[Breakpoint]:
    """Each class's (``only`` these) nearest SLO breakpoints in ``directions``."""
    s = _Solver(sc, p, derate, objective)
    q0 = s.with_options(list(p.demands))
    sol0 = s.solve(q0, BP_GAP)  # the base re-solved the way every point is (the plan breaks ties by MW)
    if q0 is None or sol0 is None:
        return []
    base_sig, base_val = signature(q0, sol0), s.value(sol0)
    out = []
    for ci, d in enumerate(p.demands):
        if only is not None and d.name not in only:
            continue
        for field in d.slo.fields:
            base = d.slo.value(field)
            assert base is not None

            def at(factor: float, ci: int = ci, field: SloField = field, base: float = base
                   ) -> tuple[Problem | None, Solution | None]:
                ds = list(p.demands)
                ds[ci] = replace(ds[ci], slo=ds[ci].slo.with_value(field, _value(base, field, factor)))
                q = s.with_options(ds)
                return q, s.solve(q, BP_GAP)

            for direction, factors in (("looser", SCAN), ("tighter", tuple(1 / x for x in SCAN))):
                if direction not in directions:
                    continue
                bp = _search(at, factors, partial(_differs, s, d.name, base_sig, base_val))
                if bp is None:
                    continue
                _, f_diff, sol_same, sol_diff, q_diff = bp
                same_tco, diff_tco = (sol0 if sol_same is None else sol_same).tco_usd_per_year, (
                    None if sol_diff is None else sol_diff.tco_usd_per_year)
                sig_diff = None if sol_diff is None or q_diff is None else signature(q_diff, sol_diff)
                tight, loose = (same_tco, diff_tco) if direction == "looser" else (diff_tco, same_tco)
                ft, fl = ((fleet_text(base_sig, d.name), fleet_text(sig_diff, d.name)) if direction == "looser"
                          else (fleet_text(sig_diff, d.name), fleet_text(base_sig, d.name)))
                out.append(Breakpoint(d.name, field, base, _value(base, field, f_diff), direction, tight, loose,
                                      ft, fl, change_text(base_sig, sig_diff)))
    return out


def _differs(s: _Solver, name: str, base_sig: dict[str, tuple[str, ...]], base_val: float, q: Problem | None,
             so: Solution | None) -> bool:
    """Past a breakpoint: no fleet at all, or the class on other hardware and the objective moved."""
    if so is None or q is None:
        return True
    return signature(q, so).get(name) != base_sig.get(name) and abs(s.value(so) - base_val) > CHANGE * abs(base_val)


def _search(at: Callable[[float], tuple[Problem | None, Solution | None]], factors: tuple[float, ...],
            differs: Callable[[Problem | None, Solution | None], bool]
            ) -> tuple[float, float, Solution | None, Solution | None, Problem | None] | None:
    """(last factor with the plan's fleet, first factor with another, their solutions, the other's problem)."""
    same, same_sol = 1.0, None
    for f in factors:
        q, so = at(f)
        if differs(q, so):
            lo, hi, diff_sol, diff_q = same, f, so, q
            for _ in range(BISECT_STEPS):
                mid = math.sqrt(lo * hi)
                qm, sm = at(mid)
                if differs(qm, sm):
                    hi, diff_sol, diff_q = mid, sm, qm
                else:
                    lo, same_sol = mid, sm
            return lo, hi, same_sol, diff_sol, diff_q
        same, same_sol = f, so
    return None


def nearest(bps: list[Breakpoint]) -> Breakpoint | None:
    return min(bps, key=lambda b: b.distance) if bps else None


__all__ = ["Bar", "Breakpoint", "SpeedInterval", "breakpoints", "change_text", "fleet_text", "fraction_interval",
           "nearest", "signature", "tornado"]
