"""The planner loop: demand -> capacity -> MILP -> binding -> Pareto -> simulate; where a class misses its
SLO in the simulation, its per-replica rate is derated and the MILP re-solved (recorded per iteration)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.attribution import ClassCost, Shadow, class_costs, loosen, shadow_prices
from tokenfleet.plan.binding import Binding, binding_constraints, explain_infeasible
from tokenfleet.plan.capacity import Option, all_options, options_for, usable_candidates
from tokenfleet.plan.demand import Demand, class_demands
from tokenfleet.plan.economics import HOURS_PER_YEAR, economics, hardware_econ
from tokenfleet.plan.idle import LOW_LOAD, IdleNote, idle_notes
from tokenfleet.plan.milp import Limits, Problem, Solution, build, solve, unit_chips
from tokenfleet.plan.pareto import ParetoPoint, cost_vs_mw, cost_vs_slo
from tokenfleet.plan.schema import PlanScenario
from tokenfleet.plan.sensitivity import Bar, Breakpoint, SpeedInterval, breakpoints, tornado
from tokenfleet.plan.terms import ImpliedTerms, apply_terms, implied
from tokenfleet.plan.units import lead_time_months
from tokenfleet.plan.verify import PoolLoad, Verification, verify
from tokenfleet.plan.verify_fleet import FleetOptions, verify_fleet

Progress = Callable[[str, float], None]
DERATE_STEP = 0.85
TIE_REL = 1e-4  # among fleets within 0.01 % of the cheapest, take the one with the least facility MW
SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600.0


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """One pool of the plan: replicas of one (hardware, layout) option, sized at the SLO of its anchor class
    ``class_name``, serving the classes in ``class_rps`` (more than one: a shared pool)."""

    name: str
    class_name: str
    model: str
    hw_id: str
    vendor: str
    layout: str
    speculative: str | None
    replicas: int
    chips: int  # chips the replicas use
    units: int  # whole purchasable units bought for this pool (servers, racks, CS-3 systems)
    unit_name: str
    unit_chips: int
    nameplate_mw: float  # units x unit nameplate power x PUE
    lead_time_months: float
    rate_rps_per_replica: float  # for the anchor class
    batch: int
    per_user_tok_s: float
    peak_load: float  # planned peak over capacity at the SLO (all its classes)
    it_mw: float  # modelled peak draw
    facility_mw: float  # modelled peak draw x PUE
    avg_facility_mw: float
    capex_usd: float
    opex_usd_per_year: float
    output_tokens_per_year: float
    depreciation_years: float
    provisioned_mw: float = 0.0  # its part of what the power budget holds
    class_rps: dict[str, float] = field(default_factory=dict)  # planned peak requests/s per class served
    class_share: dict[str, float] = field(default_factory=dict)  # share of the pool's time (and cost) per class
    class_tokens: dict[str, float] = field(default_factory=dict)  # output tokens per year per class

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.class_rps)

    @property
    def shared(self) -> bool:
        return len(self.class_rps) > 1

    @property
    def headroom(self) -> float:
        """Capacity at the SLO over the planned peak, minus one (0.25: 25 % spare at peak)."""
        return 1.0 / self.peak_load - 1.0 if self.peak_load > 0 else math.inf

    @property
    def purchase(self) -> dict[str, object]:
        return {"unit": self.unit_name, "count": self.units, "chips": self.units * self.unit_chips,
                "chips_used": self.chips, "facility_mw": self.facility_mw, "nameplate_facility_mw": self.nameplate_mw,
                "provisioned_mw": self.provisioned_mw, "lead_time_months": self.lead_time_months}

    @property
    def tco_usd_per_year(self) -> float:
        return self.capex_usd / self.depreciation_years + self.opex_usd_per_year

    @property
    def usd_per_mtok(self) -> float:
        if self.output_tokens_per_year <= 0:
            return math.nan
        return self.tco_usd_per_year / self.output_tokens_per_year * 1e6


@dataclass(frozen=True, slots=True)
class Iteration:
    index: int
    tco_usd_per_year: float
    facility_mw: float
    derate: dict[str, float]
    missed: list[str]
    sim_wall_s: float


@dataclass
class PlanResult:
    scenario: PlanScenario
    demands: list[Demand]
    options: list[Option]
    problem: Problem
    solution: Solution
    pools: list[PoolPlan]
    binding: list[Binding]
    pareto_mw: list[ParetoPoint] = field(default_factory=list)
    pareto_slo: list[ParetoPoint] = field(default_factory=list)
    verification: Verification | None = None
    iterations: list[Iteration] = field(default_factory=list)
    budget_options: list[tuple[float, Solution | None]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    class_costs: list[ClassCost] = field(default_factory=list)
    shadow: list[Shadow] = field(default_factory=list)
    sensitivity: list[Bar] = field(default_factory=list)
    breakpoints: list[Breakpoint] = field(default_factory=list)
    low_load: list[IdleNote] = field(default_factory=list)
    terms: ImpliedTerms | None = None
    breakpoints_searched: bool = False

    @property
    def bill_of_materials(self) -> list[dict[str, object]]:
        """Units to order per hardware, fleet-wide."""
        out: dict[str, dict[str, object]] = {}
        for q in self.pools:
            row = out.setdefault(q.hw_id, {"hardware": q.hw_id, "vendor": q.vendor, "unit": q.unit_name, "count": 0,
                                           "chips": 0, "capex_usd": 0.0, "facility_mw": 0.0,
                                           "nameplate_facility_mw": 0.0, "provisioned_mw": 0.0,
                                           "lead_time_months": q.lead_time_months})
            row["count"] = int(row["count"]) + q.units  # type: ignore[call-overload]
            row["chips"] = int(row["chips"]) + q.units * q.unit_chips  # type: ignore[call-overload]
            for k, v in (("capex_usd", q.capex_usd), ("facility_mw", q.facility_mw),
                         ("nameplate_facility_mw", q.nameplate_mw), ("provisioned_mw", q.provisioned_mw)):
                row[k] = float(row[k]) + v  # type: ignore[arg-type]
        return list(out.values())

    @property
    def objective(self) -> str:
        return self.scenario.plan.objective


def _limits(sc: PlanScenario) -> Limits:
    p, k = sc.plan, sc.plan.constraints
    return Limits(p.power_budget_mw, k.max_vendor_share, k.share_basis, k.min_vendors, k.min_vendor_share,
                  p.budget_usd_per_year, power_basis=p.power_basis, oversubscription=p.oversubscription or 1.0)


def make_problem(sc: PlanScenario, demands: list[Demand], options: list[Option]) -> Problem:
    cands = usable_candidates(sc)
    used_hw = {o.hw_id for o in options}
    hardware = [hardware_econ(c) for c in cands if c.hardware in used_hw]
    sized = np.array([d.peak_rps * (1.0 + sc.plan.constraints.peak_headroom) for d in demands])
    return build(options, hardware, demands, sized, economics(sc), _limits(sc))


def pools_of(p: Problem, sol: Solution) -> list[PoolPlan]:
    """One pool per option with replicas. A pool's purchase is the whole units its replicas start on; its
    capex, idle power and opex are its share of its hardware's units by the unit chips it takes, so pools
    that share a server split its cost and every class's cost adds up to the fleet's. A pool's cost is split
    over the classes it serves by the share of its replicas' time each takes."""
    econ, lim = p.econ, p.limits
    eff = unit_chips(p)
    taken = np.bincount(p.hw_of, weights=eff * sol.replicas, minlength=len(p.hardware))
    e_rate = econ.energy_usd_per_year_per_facility_w() * 1e6
    f_rate = econ.facility_usd_per_year_per_facility_w() * 1e6
    headroom = p.sized_rps / np.maximum(np.array([d.peak_rps for d in p.demands]), 1e-300)  # 1 + headroom
    out = []
    for j, o in enumerate(p.options):
        n = int(sol.replicas[j])
        if n <= 0:
            continue
        h = int(p.hw_of[j])
        hw = p.hardware[h]
        units = int(sol.units[j])
        share = float(sol.systems[h]) * float(eff[j] * n / taken[h]) if taken[h] > 0 else 0.0  # units' cost by use
        x = {int(f): float(sol.flows[f]) for f in np.flatnonzero(p.flow_opt == j) if sol.flows[f] > 1e-12}
        peak = float(p.draw_n[j]) * n + float(p.draw_s[h]) * share + sum(p.draw_x[f] * v for f, v in x.items())
        avg = float(p.draw_n[j]) * n + float(p.draw_s[h]) * share + sum(p.avg_x[f] * v for f, v in x.items())
        prov = (float(p.plate_s[h]) * share if lim.power_basis == "nameplate" else peak) / lim.oversubscription
        capex = hw.capex_per_system_usd * share
        opex = avg * e_rate + prov * f_rate + hw.rent_per_system_usd_per_year * share
        cls = {f: int(p.flow_cls[f]) for f in x}
        busy = {cls[f]: v / float(p.flow_rate[f]) for f, v in x.items()}
        name = {c: p.demands[c].name for c in busy}
        class_rps = {name[cls[f]]: v / float(headroom[cls[f]]) for f, v in x.items()}
        tokens = {name[cls[f]]: p.demands[cls[f]].output_tok_per_year * v / float(p.sized_rps[cls[f]])
                  for f, v in x.items()}
        load = sum(b / float(headroom[c]) for c, b in busy.items()) / n
        d = p.demands[o.class_idx]
        spec = f"{o.spec[0]} k={o.spec[1]} a={o.spec[2]}" if o.spec else None
        others = [name[c] for c in busy if c != o.class_idx]
        label = o.class_name if not others else (f"{o.class_name}+{others[0]}" if len(others) == 1
                                                  else f"{o.class_name}+{len(others)}")
        out.append(PoolPlan(
            f"{label}/{o.hw_id}", o.class_name, d.model, o.hw_id, o.vendor, o.layout.describe(), spec, n,
            o.chips * n, units, hw.unit_name, hw.chips_per_system, units * hw.unit_power_w * econ.pue / 1e6,
            hw.lead_time_months, o.rate_rps, o.batch, o.per_user_tok_s, load,
            peak / econ.pue, peak, avg, capex, opex, sum(tokens.values()), econ.depreciation_years, prov,
            class_rps, _cost_shares(busy, o.class_idx, n, name), tokens,
        ))
    names = [q.name for q in out]
    return [replace(q, name=q.name + (f"/{q.chips // q.replicas}chips" if names.count(q.name) > 1 else ""))
            for q in out]


def _cost_shares(busy: dict[int, float], anchor: int, replicas: int, name: dict[int, str]) -> dict[str, float]:
    """A pool's cost by class: a class that rides it pays the share of its replicas' time it takes; the class
    whose SLO sized it (the anchor) pays the rest, idle capacity included (it is why the pool exists)."""
    out = {name[c]: min(b / replicas, 1.0) for c, b in busy.items() if c != anchor}
    rest = max(0.0, 1.0 - sum(out.values()))
    if anchor in busy:
        return {name[anchor]: rest, **out}
    return {k: v / sum(out.values()) for k, v in out.items()} if out else {}


def pool_loads(p: Problem, sol: Solution) -> list[PoolLoad]:
    """Per option with replicas: the planned peak rate of each class it serves (traffic scale applied)."""
    out = []
    for j, o in enumerate(p.options):
        n = int(sol.replicas[j])
        if n <= 0:
            continue
        rps: dict[int, float] = {}
        for f in np.flatnonzero(p.flow_opt == j):
            c = int(p.flow_cls[f])
            if sol.flows[f] > 1e-12:
                rps[c] = rps.get(c, 0.0) + float(sol.flows[f]) * p.demands[c].peak_rps / float(p.sized_rps[c])
        out.append(PoolLoad(o, n, rps))
    return out


def _solve_or_explain(p: Problem, objective: str) -> Solution:
    sol = solve(p, objective, tie_rel=TIE_REL)
    if sol is None:
        raise explain_infeasible(p, objective)
    return sol


def plan(sc: PlanScenario, base_dir: Path, progress: Progress | None = None, *, run_verify: bool = True,
         pareto: bool = True, verify_curves: bool = False, shadow: bool = True,
         verify_replicas: int | None = None, sensitivity: bool = True,
         speed_interval: SpeedInterval | None = None, fleet: FleetOptions | None = None) -> PlanResult:
    """Plan ``sc``; ``verify_replicas`` overrides ``plan.verify.max_replicas`` (the simulated slice);
    ``fleet`` then verifies the final plan on every replica (:mod:`tokenfleet.plan.verify_fleet`: its result is
    the plan's verification; the slices still steer the iterations);
    ``sensitivity`` adds the tornado and SLO breakpoints (``plan.sensitivity``), with each hardware's speed
    range from ``speed_interval(model, hardware)`` (default: +/- ``plan.sensitivity.speed``)."""
    say: Progress = progress or (lambda stage, frac: None)
    t0 = time.perf_counter()
    terms = implied(sc)
    sc = apply_terms(sc)
    timings: dict[str, float] = {}
    say("demand", 0.02)
    demands = class_demands(sc, base_dir)
    objective = sc.plan.objective
    derate: dict[int, float] = {}
    iterations: list[Iteration] = []
    ver: Verification | None = None
    max_it = sc.plan.verify.max_iterations if (run_verify and sc.plan.verify.enabled) else 1
    for it in range(max_it):
        say("capacity", 0.05 + 0.1 * it)
        t = time.perf_counter()
        options = all_options(sc, demands, derate)
        timings["capacity_s"] = timings.get("capacity_s", 0.0) + time.perf_counter() - t
        say("solve", 0.15 + 0.1 * it)
        t = time.perf_counter()
        problem = make_problem(sc, demands, options)
        sol = _solve_or_explain(problem, objective)
        timings["solve_s"] = timings.get("solve_s", 0.0) + time.perf_counter() - t
        if not (run_verify and sc.plan.verify.enabled):
            break
        say("simulate", 0.3 + 0.15 * it)
        ver = verify(sc, base_dir, demands, pool_loads(problem, sol), verify_replicas)
        timings["verify_s"] = timings.get("verify_s", 0.0) + ver.wall_s
        missed = [c.name for c in ver.classes if not c.met]
        iterations.append(Iteration(it + 1, sol.tco_usd_per_year, sol.peak_facility_mw,
                                    {demands[i].name: f for i, f in derate.items()}, missed, ver.wall_s))
        if not missed:
            break
        if it + 1 < max_it:
            for name in missed:
                ci = next(i for i, d in enumerate(demands) if d.name == name)
                derate[ci] = derate.get(ci, 1.0) * DERATE_STEP
    pools = pools_of(problem, sol)
    if fleet is not None and run_verify and sc.plan.verify.enabled:
        say("fleet", 0.3)
        t = time.perf_counter()
        ver = verify_fleet(sc, base_dir, demands, pool_loads(problem, sol), fleet, [q.name for q in pools],
                           lambda f: say("fleet", 0.3 + 0.5 * f))
        timings["verify_fleet_s"] = time.perf_counter() - t
    say("binding", 0.8)
    t = time.perf_counter()
    result = PlanResult(sc, demands, options, problem, sol, pools,
                        binding_constraints(problem, sol), verification=ver, iterations=iterations, terms=terms)
    dl = sc.plan.constraints.deadline_months
    result.excluded = [f"{c.hardware} (lead time {lead_time_months(c):g} months > deadline {dl:g})"
                       for c in sc.plan.candidates if dl is not None and lead_time_months(c) > dl]
    for mw in sc.plan.budget_options_mw:
        result.budget_options.append(
            (mw, solve(replace(problem, limits=replace(problem.limits, power_budget_mw=mw)), objective)))
    result.class_costs = class_costs(result.pools, demands)
    if shadow:
        result.shadow = shadow_prices(problem, sol, lambda ci, f: _class_slo_problem(sc, problem, ci, f, derate))
    timings["binding_s"] = time.perf_counter() - t
    spec = sc.plan.sensitivity
    if sensitivity and spec.enabled:
        say("sensitivity", 0.85)
        t = time.perf_counter()
        result.sensitivity = tornado(sc, problem, derate, objective, spec, speed_interval)
        if spec.breakpoints:
            result.breakpoints = breakpoints(sc, problem, sol, derate, objective, spec)
            result.breakpoints_searched = True
        timings["sensitivity_s"] = time.perf_counter() - t
    t = time.perf_counter()
    idle = {q.class_name for q in result.pools if q.peak_load < LOW_LOAD}
    searched = result.breakpoints_searched or not (sensitivity and spec.enabled)
    bps = result.breakpoints if searched or not idle else breakpoints(
        sc, problem, sol, derate, objective, spec, only=idle, directions=("looser",))
    result.low_load = idle_notes(result.pools, problem, bps, searched=bool(sensitivity and spec.enabled))
    timings["sensitivity_s"] = timings.get("sensitivity_s", 0.0) + time.perf_counter() - t
    if pareto and sc.plan.pareto_points:
        say("pareto", 0.9)
        t = time.perf_counter()
        result.pareto_mw = cost_vs_mw(problem, sc.plan.pareto_points, sol if objective == "cost" else None)
        result.pareto_slo = cost_vs_slo(lambda f: _slo_problem(sc, demands, derate, f))
        timings["pareto_s"] = time.perf_counter() - t
        if verify_curves and sc.plan.verify.enabled:
            say("curves", 0.95)
            t = time.perf_counter()
            result.pareto_mw = [_verified(sc, base_dir, q, verify_replicas) for q in result.pareto_mw]
            result.pareto_slo = [_verified(sc, base_dir, q, verify_replicas) for q in result.pareto_slo]
            timings["verify_curves_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    result.timings_s = timings
    say("done", 1.0)
    return result


def _verified(sc: PlanScenario, base_dir: Path, q: ParetoPoint, max_replicas: int | None) -> ParetoPoint:
    """The point with its fleet simulated (as the plan is: same slice rules and limits)."""
    if q.fleet is None:
        return q
    p, sol = q.fleet
    ver = verify(sc, base_dir, p.demands, pool_loads(p, sol), max_replicas)
    missed = [c.name for c in ver.classes if not c.met]
    return replace(q, status="simulated: " + (f"missed {', '.join(missed)}" if missed else "met"))


def _class_slo_problem(sc: PlanScenario, p: Problem, ci: int, factor: float,
                       derate: dict[int, float]) -> Problem | None:
    """The problem with class ``ci``'s SLO loosened by ``factor``; its old options stay (they meet it)."""
    demands = list(p.demands)
    demands[ci] = loosen(demands[ci], factor)
    extra = [o for c in usable_candidates(sc) for o in options_for(demands[ci], ci, c, derate.get(ci, 1.0))]
    return make_problem(sc, demands, [*p.options, *extra])


def _slo_problem(sc: PlanScenario, demands: list[Demand], derate: dict[int, float], factor: float) -> Problem | None:
    scaled = [loosen(d, factor) for d in demands]
    try:
        options = all_options(sc, scaled, derate)
    except InfeasibleError:
        return None
    return make_problem(sc, scaled, options)


__all__ = ["Iteration", "PlanResult", "PoolPlan", "make_problem", "plan", "pool_loads", "pools_of"]
