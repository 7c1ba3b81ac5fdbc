"""Per (class, hardware, layout[, speculative decoding]): the largest request rate one replica sustains
within the class's SLOs, and its power and chips at that load.

Without speculative decoding the rate is :func:`tokenfleet.perf.steady.server` (Poisson arrivals; each
batch size is an M/M/c queue for p99 TTFT, the step time times the calibrated tail ratio for p99 TPOT) with
the TTFT budget net of the replica's fixed API overhead (which the simulator adds to every TTFT).

With speculative decoding (:class:`~tokenfleet.plan.schema.SpecDecodeSpec`) the same
``perf.steady.server`` runs with a :class:`tokenfleet.perf.SpecDecode`: each step is a round of ``k`` draft
steps and one target step verifying ``B (k + 1)`` tokens (see :mod:`tokenfleet.perf.speculative`). On
SRAM-dataflow hardware the draft runs on its own systems (counted in the replica's chips and power); on HBM
hardware it shares the target's GPUs.

Results are cached per (model, hardware, layout, lengths, SLOs, speculative settings).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from tokenfleet import catalog, perf
from tokenfleet.errors import InfeasibleError, LayoutError, TokenfleetError
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.schema import CandidateSpec, PlanScenario, SpecDecodeSpec
from tokenfleet.scenario import LayoutSpec, Slo

SpecKey = tuple[str, int, float] | None  # (draft model, draft tokens, acceptance)


@dataclass(frozen=True, slots=True)
class Rate:
    """An operating point of one replica at the largest SLO-meeting Poisson rate."""

    request_rate: float
    batch: int
    per_user_tok_s: float
    tpot_p99_s: float
    it_power_w: float  # at that rate


@dataclass(frozen=True, slots=True)
class Option:
    """One way to serve a class: a replica of ``layout`` on ``hw_id`` (plus a draft when speculative), sized
    at the SLO of class ``class_idx`` (its anchor). ``carries`` lists the other classes of the same model
    whose SLO the anchor's covers, each ``(class index, requests/s per replica, IT W at that rate)`` at the
    anchor's SLO with that class's lengths: a replica of this option may serve them too (a shared pool)."""

    class_idx: int
    class_name: str
    hw_id: str
    vendor: str
    layout: perf.Layout
    spec: SpecKey
    chips: int  # units this replica occupies (target + draft systems on SRAM hardware)
    rate_rps: float
    batch: int
    per_user_tok_s: float
    peak_it_w: float  # IT power at rate_rps
    idle_it_w: float  # IT power of the replica at idle
    carries: tuple[tuple[int, float, float], ...] = ()

    @property
    def flows(self) -> tuple[tuple[int, float, float], ...]:
        """``(class index, requests/s per replica, IT W at that rate)``: the anchor first, then the carries."""
        return ((self.class_idx, self.rate_rps, self.peak_it_w), *self.carries)

    def rate_for(self, class_idx: int) -> float:
        return next((r for c, r, _ in self.flows if c == class_idx), 0.0)

    @property
    def label(self) -> str:
        s = f" + spec({self.spec[0]}, k={self.spec[1]}, a={self.spec[2]})" if self.spec else ""
        return f"{self.layout.describe()}{s}"


@cache
def scaled_hardware(hw_id: str, speed: float = 1.0) -> catalog.HardwareSpec:
    """The hardware entry with peak FLOPS and memory / link bandwidth x ``speed`` (a candidate's
    ``speed_factor``: "what if this system were 30 % faster"; fixed per-step latencies unchanged)."""
    hw = catalog.hardware(hw_id)
    if speed == 1.0:
        return hw
    return replace(hw, dense_tflops={k: v * speed for k, v in hw.dense_tflops.items()},
                   memory_bw_tbps=hw.memory_bw_tbps * speed, scaleup_bw_gbps=hw.scaleup_bw_gbps * speed)


@cache
def deployment(model: str, hw: str, layout: perf.Layout | None, speed: float = 1.0) -> perf.Deployment:
    return perf.deploy(model, scaled_hardware(hw, speed), layout)


def native_precision(model: str) -> str | None:
    """The weight precision the model is released in (catalog ``native_precision``; None: not recorded)."""
    return getattr(catalog.model(model), "native_precision", None)


def _layout_from_spec(hw: catalog.HardwareSpec, lay: LayoutSpec, model: catalog.ModelSpec) -> perf.Layout:
    wp = lay.weight_precision or getattr(model, "native_precision", None)
    return perf.make_layout(model, hw, lay.num_chips, lay.tp, lay.pp, wp, lay.kv_precision)


def layouts_for(model: str, cand: CandidateSpec) -> tuple[perf.Layout, ...]:
    """Valid layouts of ``model`` on the candidate that its units can host: its explicit list, else
    perf.candidate_layouts in the model's native precision plus each of ``cand.precisions``."""
    from tokenfleet.plan.units import candidate_unit

    specs = tuple(cand.layouts) if cand.layouts else None
    precisions = tuple(dict.fromkeys([native_precision(model), *cand.precisions]))
    return _layouts(model, cand.hardware, specs, cand.max_chips_per_replica, precisions,
                    candidate_unit(cand).chips, cand.speed_factor, cand.weight_only)


@cache
def _layouts(model: str, hw_id: str, specs: tuple[LayoutSpec, ...] | None, max_chips: int | None,
             precisions: tuple[str | None, ...] = (None,), unit_chips: int | None = None,
             speed: float = 1.0, weight_only: bool = False) -> tuple[perf.Layout, ...]:
    m, hw = catalog.model(model), catalog.hardware(hw_id)
    lays: list[perf.Layout] = []
    if specs:
        for sp in specs:
            with contextlib.suppress(LayoutError, TokenfleetError):
                lays.append(_layout_from_spec(hw, sp, m))
    else:
        for wp in precisions:
            with contextlib.suppress(LayoutError, TokenfleetError):
                lays.extend(perf.candidate_layouts(m, hw, weight_precision=wp, max_chips=max_chips))
    if weight_only:  # quantised layouts dequantise to 16 bits in the kernels
        lays = [dataclasses.replace(lay, weight_only=True) if catalog.BYTES_PER_PARAM[lay.weight_precision] < 2.0
                else lay for lay in lays]
    ok = []
    for lay in dict.fromkeys(lays):
        if unit_chips is not None and not hw.is_sram and lay.tp > unit_chips:
            continue  # a tensor-parallel group must stay inside one unit
        try:
            deployment(model, hw_id, lay, speed)
            ok.append(lay)
        except TokenfleetError:
            continue
    return tuple(ok)


@cache
def plain_rate(model: str, hw: str, layout: perf.Layout, isl: int, osl: int, ttft_s: float,
               tpot_s: float, speed: float = 1.0) -> Rate:
    dep = deployment(model, hw, layout, speed)
    budget = ttft_s - dep.params.request_overhead_s
    if budget <= 0:
        return Rate(0.0, 0, 0.0, math.inf, dep.idle_power_w)
    op = perf.steady.server(dep, isl, osl, budget, tpot_s)
    if op.request_rate <= 0:
        return Rate(0.0, 0, 0.0, math.inf, dep.idle_power_w)
    power = perf.power.operating_power_w(dep, op, isl, osl)
    return Rate(op.request_rate, op.batch, op.per_user_tok_s, op.tpot_p99_s, power)


@cache
def spec_rate(model: str, hw: str, layout: perf.Layout, spec: tuple[str, int, float], isl: int, osl: int,
              ttft_s: float, tpot_s: float, speed: float = 1.0) -> Rate:
    """The largest SLO-meeting rate with speculative decoding (``perf.steady.server`` with a draft)."""
    dep = deployment(model, hw, layout, speed)
    sd = perf.SpecDecode(deployment(spec[0], hw, None, speed), spec[1], spec[2])
    idle = perf.power.operating_power_w(dep, perf.steady.Operating(0, 0.0, 0.0, 0.0), isl, osl, sd)
    budget = ttft_s - dep.params.request_overhead_s
    if budget <= 0:
        return Rate(0.0, 0, 0.0, math.inf, idle)
    op = perf.steady.server(dep, isl, osl, budget, tpot_s, spec=sd)
    if op.request_rate <= 0:
        return Rate(0.0, 0, 0.0, math.inf, idle)
    power = perf.power.operating_power_w(dep, op, isl, osl, sd)
    return Rate(op.request_rate, op.batch, op.per_user_tok_s, op.tpot_p99_s, power)


def _spec_key(s: SpecDecodeSpec | None) -> SpecKey:
    return None if s is None else (s.draft_model, s.draft_tokens, float(s.acceptance))


def rate_at(model: str, hw: str, layout: perf.Layout, spec: SpecKey, d: Demand, slo: Slo,
            speed: float = 1.0) -> Rate:
    """One replica's largest rate for class ``d``'s lengths within ``slo`` (perhaps another class's)."""
    isl, osl = round(d.isl), round(d.osl)
    if spec is None:
        return plain_rate(model, hw, layout, isl, osl, slo.ttft_s, slo.tpot_s, speed)
    return spec_rate(model, hw, layout, spec, isl, osl, slo.ttft_s, slo.tpot_s, speed)


def options_for(d: Demand, ci: int, cand: CandidateSpec, derate: float = 1.0) -> list[Option]:
    hw = catalog.hardware(cand.hardware)
    isl, osl = round(d.isl), round(d.osl)
    out = []
    specs: list[SpecKey] = [] if cand.speculative_only else [None]
    sd = cand.speculative
    if sd is not None and (not sd.for_models or d.model in sd.for_models):
        specs.append(_spec_key(sd))
    elif cand.speculative_only:
        return []
    sp = cand.speed_factor
    for lay in layouts_for(d.model, cand):
        dep = deployment(d.model, cand.hardware, lay, sp)
        for sk in specs:
            if sk is None:
                r = plain_rate(d.model, cand.hardware, lay, isl, osl, d.ttft_p99_s, d.tpot_p99_s, sp)
                chips, idle = lay.num_chips, dep.idle_power_w
            else:
                try:
                    draft = deployment(sk[0], cand.hardware, None, sp)
                except TokenfleetError:
                    continue
                r = spec_rate(d.model, cand.hardware, lay, sk, isl, osl, d.ttft_p99_s, d.tpot_p99_s, sp)
                extra = draft.num_chips if hw.is_sram else 0
                chips = lay.num_chips + extra
                idle = dep.idle_power_w + (draft.idle_power_w if hw.is_sram else 0.0)
            if r.request_rate <= 0:
                continue
            out.append(Option(ci, d.name, cand.hardware, hw.vendor, lay, sk, chips, r.request_rate * derate,
                              r.batch, r.per_user_tok_s, r.it_power_w, idle))
    return out


def best_single_stream(d: Demand, cands: list[CandidateSpec]) -> tuple[float, float, str, str]:
    """Best per-user tok/s and best TTFT (s, overhead included) any candidate reaches for one request."""
    best_u, best_t, who_u, who_t = 0.0, math.inf, "-", "-"
    isl, osl = round(d.isl), round(d.osl)
    for cand in cands:
        for lay in layouts_for(d.model, cand):
            dep = deployment(d.model, cand.hardware, lay, cand.speed_factor)
            specs: list[perf.SpecDecode | None] = [None]
            s = cand.speculative
            if s is not None and (not s.for_models or d.model in s.for_models):
                with contextlib.suppress(TokenfleetError):
                    specs.append(perf.SpecDecode(deployment(s.draft_model, cand.hardware, None, cand.speed_factor),
                                                 s.draft_tokens, s.acceptance))
            for sp in specs:
                u = perf.single.per_user_tok_s(dep, isl, osl, sp)
                if u > best_u:
                    tag = " + speculative decoding" if sp else ""
                    best_u, who_u = u, f"{cand.hardware} {lay.describe()}{tag}"
            t = perf.single.ttft_s(dep, isl)
            if t < best_t:
                best_t, who_t = t, f"{cand.hardware} {lay.describe()}"
    return best_u, best_t, who_u, who_t


SpeedOf = Callable[[str, str], float]  # (model, hardware) -> a multiple of the perf model's predicted speed


def all_options(sc: PlanScenario, demands: list[Demand], derate: dict[int, float] | None = None,
                share: bool = True, speed_of: SpeedOf | None = None) -> list[Option]:
    """Every feasible option, each carrying the classes it may share with (``share``); a class no candidate
    can serve raises InfeasibleError saying which SLO fails and the best any candidate reaches. A class with
    the model and SLO of an earlier class gets no options of its own: the earlier class's carry it.
    ``speed_of(model, hardware)`` scales each candidate's speed (the sensitivity's "what if the model is
    20 % off")."""
    cands = usable_candidates(sc)
    derate = derate or {}

    def scaled(c: CandidateSpec, model: str) -> CandidateSpec:
        f = 1.0 if speed_of is None else speed_of(model, c.hardware)
        return c if f == 1.0 else c.model_copy(update={"speed_factor": c.speed_factor * f})

    out: list[Option] = []
    for ci, d in enumerate(demands):
        twin = share and any(e.model == d.model and e.slo == d.slo for e in demands[:ci])
        opts = [] if twin else [o for c in cands for o in options_for(d, ci, scaled(c, d.model), derate.get(ci, 1.0))]
        if not opts and not twin:
            raise InfeasibleError(_unmet_message(d, cands), binding=[f"slo:{d.name}"])
        out.extend(opts)
    if not share:
        return out
    speeds = {(d.model, c.hardware): scaled(c, d.model).speed_factor for d in demands for c in cands}
    return with_carries(out, demands, speeds, derate)


def with_carries(options: list[Option], demands: list[Demand], speeds: dict[tuple[str, str], float],
                 derate: dict[int, float]) -> list[Option]:
    """Each option with the other classes of its model whose SLO its anchor's covers (rates at the anchor's
    SLO, each class's own lengths; ``speeds``: the candidates' speed factor per (model, hardware))."""
    out = []
    for o in options:
        a = demands[o.class_idx]
        speed = speeds.get((a.model, o.hw_id), 1.0)
        carries = []
        for ci, d in enumerate(demands):
            if ci == o.class_idx or d.model != a.model or not a.slo.covers(d.slo):
                continue
            r = rate_at(a.model, o.hw_id, o.layout, o.spec, d, a.slo, speed)
            if r.request_rate > 0:
                carries.append((ci, r.request_rate * derate.get(ci, 1.0), r.it_power_w))
        out.append(replace(o, carries=tuple(carries)) if carries else o)
    return out


def usable_candidates(sc: PlanScenario) -> list[CandidateSpec]:
    from tokenfleet.plan.units import lead_time_months

    dl = sc.plan.constraints.deadline_months
    return [c for c in sc.plan.candidates if dl is None or lead_time_months(c) <= dl]


def _unmet_message(d: Demand, cands: list[CandidateSpec]) -> str:
    fits = [c.hardware for c in cands if layouts_for(d.model, c)]
    if not fits:
        return (f"class {d.name!r}: model {d.model} fits no candidate layout "
                f"(candidates: {', '.join(c.hardware for c in cands)})")
    u, t, who_u, who_t = best_single_stream(d, cands)
    tpot_ms = d.tpot_p99_s * 1e3
    parts = []
    if d.tpot_p99_s < math.inf and 1.0 / u > d.tpot_p99_s:
        want = (f"min_user_tok_s {d.min_user_tok_s:,.0f} tok/s" if d.min_user_tok_s
                else f"tpot_p99_ms {tpot_ms:,.1f} ms ({1e3 / tpot_ms:,.0f} tok/s per user)")
        parts.append(f"SLO {want} is out of reach: the best any candidate reaches is {u:,.0f} tok/s per user "
                     f"({who_u}) at {d.isl:,.0f} prompt / {d.osl:,.0f} output tokens")
    if d.ttft_p99_s < math.inf and t > d.ttft_p99_s:
        parts.append(f"SLO ttft_p99_ms {d.ttft_p99_s * 1e3:,.0f} ms is out of reach: the best single-request "
                     f"TTFT any candidate reaches is {t * 1e3:,.0f} ms ({who_t})")
    if not parts:
        parts.append(f"no candidate meets TTFT p99 {d.ttft_p99_s * 1e3:,.0f} ms and TPOT p99 {tpot_ms:,.1f} ms "
                     f"together under load (best single-stream: {u:,.0f} tok/s per user on {who_u}, "
                     f"TTFT {t * 1e3:,.0f} ms on {who_t})")
    return f"class {d.name!r}: " + "; ".join(parts)


__all__ = [
    "Option",
    "Rate",
    "SpeedOf",
    "all_options",
    "best_single_stream",
    "deployment",
    "layouts_for",
    "options_for",
    "plain_rate",
    "rate_at",
    "spec_rate",
    "usable_candidates",
    "with_carries",
]
