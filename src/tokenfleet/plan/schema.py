"""The planner's scenario: the shared :class:`~tokenfleet.scenario.Scenario` plus a ``plan:`` section.

A plan scenario names traffic classes (as for ``simulate``) but no pools: the planner chooses them from
``plan.candidates``. Everything a planner needs beyond the base schema lives under ``plan``::

    plan:
      candidates:                       # hardware the planner may buy (or rent)
        - {hardware: cs3, supply_cap_systems: 2000, lead_time_months: 6,
           speculative: {draft_model: llama-3.1-8b, draft_tokens: 3, acceptance: 0.9}}
        - {hardware: gb200-nvl72, price_usd: 40000}          # per chip; default: catalog price_usd
        - {hardware: h100, usd_per_hour: 2.2}                 # rented per chip-hour: opex, no capex
        - {hardware: mi355x, unit: {name: 4-GPU server, chips: 4, price_usd: 110000, power_w: 9000},
           precisions: [fp8]}                                 # a unit other than catalog/data/units.yaml's
      power_budget_mw: 750              # facility MW (IT x PUE); omit for no budget
      facility_usd_per_mw: 15.0e6       # facility capex per facility MW, amortised over facility_life_years
      horizon_years: 3
      objective: cost                   # cost | power | goodput (most traffic for budget_usd_per_year)
      constraints: {max_vendor_share: 0.7, min_vendors: 2, peak_headroom: 0.1, deadline_months: 12}
      traffic: {chat: {peak_rps: 400}}  # per-class overrides of the demand the planner sizes for
      verify: {duration_s: 120, max_replicas: 48}

``facility.pue``, ``facility.usd_per_mwh`` and ``facility.depreciation_years`` come from the base schema.
:func:`load_plan_scenario` reads a file; :func:`check_plan` turns contradictions into ScenarioErrors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from tokenfleet import catalog, perf
from tokenfleet.errors import ScenarioError, TokenfleetError, UnknownIdError
from tokenfleet.scenario import (
    LayoutSpec,
    PoolSpec,
    Scenario,
    SpeculativeSpec,
    load_scenario,
    parse_scenario,
    register_section,
)
from tokenfleet.scenario.base import NOT_BOOL, StrictModel, in_range

register_section("plan")
PRECISIONS = ("bf16", "fp8", "fp4", "int8")


class _Finite(StrictModel):
    """A plan section: floats must be finite (``inf`` / ``nan`` are bad input, not "no limit")."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UnitOverride(_Finite):
    """The purchasable unit of a candidate when it is not catalog/data/units.yaml's (a smaller server...)."""

    name: str | None = None
    chips: PositiveInt | None = None  # performance-model units (GPUs, CS-3 systems, LPUs) per unit
    price_usd: PositiveFloat | None = None  # one unit; needed when ``chips`` differs from the catalog's unit
    power_w: PositiveFloat | None = None  # nameplate


class SpecDecodeSpec(SpeculativeSpec):
    """Speculative decoding on a candidate (the simulator's pool setting plus the target models it applies
    to; empty ``for_models``: all)."""

    for_models: list[str] = Field(default_factory=list)


class CandidateSpec(_Finite):
    hardware: str
    price_usd: PositiveFloat | None = None  # per chip; unit price = price_usd x unit chips
    unit_price_usd: PositiveFloat | None = None  # per purchasable unit (default: catalog/data/units.yaml)
    usd_per_hour: PositiveFloat | None = None  # rental per chip-hour instead of buying
    unit: UnitOverride | None = None
    supply_cap_chips: PositiveInt | None = None
    supply_cap_systems: PositiveInt | None = None  # purchasable units (servers, racks, CS-3 systems)
    lead_time_months: NonNegativeFloat | None = None  # default: the unit's (catalog/data/units.yaml)
    layouts: list[LayoutSpec] | None = None  # default: perf.candidate_layouts in the model's native precision
    precisions: list[Literal["bf16", "fp8", "fp4", "int8"]] = Field(default_factory=list)  # more weight precisions
    # the candidate's quantised layouts (fp8 / int8 / fp4, incl. a model released so) run weight-only kernels
    # (W8A16 / W4A16, jetstream-pytorch's int8, AWQ / GPTQ): the format's bytes, 16-bit matmuls; 16-bit
    # layouts are unchanged
    weight_only: bool = False
    speed_factor: float = Field(default=1.0, gt=0.0, le=100.0)  # x peak FLOPS and memory / link bandwidth
    max_chips_per_replica: PositiveInt | None = None
    speculative: SpecDecodeSpec | None = None
    speculative_only: bool = False  # with ``speculative``: drop the plain (non-speculative) options

    @model_validator(mode="after")
    def _rent_or_buy(self) -> CandidateSpec:
        if self.usd_per_hour is not None and (self.price_usd is not None or self.unit_price_usd is not None):
            raise ValueError("give price_usd / unit_price_usd (buy) or usd_per_hour (rent), not both")
        if self.price_usd is not None and self.unit_price_usd is not None:
            raise ValueError("give price_usd (per chip) or unit_price_usd (per unit), not both")
        if self.speculative_only and self.speculative is None:
            raise ValueError("speculative_only needs a speculative section")
        return self


class ConstraintSpec(_Finite):
    max_vendor_share: float = Field(default=1.0, gt=0.0, le=1.0)  # of facility MW (or capex, see share_basis)
    share_basis: Literal["power", "capex"] = "power"
    min_vendors: PositiveInt = 1
    min_vendor_share: float = Field(default=0.0, ge=0.0, lt=1.0)  # a vendor "counts" above this share
    peak_headroom: float = Field(default=0.0, ge=0.0, le=1.0)  # size every class for peak x (1 + headroom)
    deadline_months: NonNegativeFloat | None = None  # candidates with a longer lead time are excluded


class ClassDemandSpec(_Finite):
    """Override what the planner sizes a class for (default: from its arrivals)."""

    mean_rps: PositiveFloat | None = None
    peak_rps: PositiveFloat | None = None


class VerifySpec(_Finite):
    enabled: bool = True
    duration_s: PositiveFloat = 120.0
    max_replicas: PositiveInt = 48  # per run: larger fleets are simulated as a slice, same load per replica
    max_requests: PositiveInt = 60_000
    max_iterations: PositiveInt = 4
    seed: int = 0


class SensitivitySpec(_Finite):
    """The ranges of the tornado (each input at its low and high value, the plan re-solved at each) and the
    SLO breakpoint search (:mod:`tokenfleet.plan.sensitivity`)."""

    enabled: bool = True
    unit_price: float = Field(default=0.3, gt=0.0)  # +/- fraction of each candidate's unit price (or rent)
    usd_per_mwh: float = Field(default=0.5, gt=0.0)  # +/- fraction of facility.usd_per_mwh
    pue: float = Field(default=0.1, gt=0.0, le=1.0)  # +/- PUE (absolute); PUE - pue must stay >= 1
    depreciation_years: float = Field(default=0.25, gt=0.0)  # +/- fraction
    traffic: float = Field(default=0.2, gt=0.0)  # +/- fraction of every class's rate
    speed: float = Field(default=0.2, gt=0.0)  # +/- fraction of each hardware's predicted speed
    breakpoints: bool = True  # search each class's SLO for the values where the fleet changes

    @model_validator(mode="after")
    def _below_one(self) -> SensitivitySpec:
        for key, what in (("unit_price", "a unit price"), ("usd_per_mwh", "the power price"),
                          ("depreciation_years", "the depreciation period"), ("traffic", "the traffic"),
                          ("speed", "a hardware's speed")):
            v = getattr(self, key)
            if v >= 1.0:
                raise ValueError(f"{key} {v:g} makes {what} zero or negative at the low end (x (1 - {v:g})); "
                                 "give a fraction below 1")
        return self


class DealTermsSpec(_Finite):
    """Reported deal terms for one candidate (``$contract_usd for facility_mw over term_years``), read as
    prices per system and per MW-year, with what that capacity serves (:mod:`tokenfleet.plan.terms`)."""

    hardware: str  # a candidate
    contract_usd: PositiveFloat
    facility_mw: PositiveFloat  # capacity at the meter
    term_years: float = Field(default=3.0, gt=0.0, le=50.0)
    mw_years: PositiveFloat | None = None  # MW in service summed over the term (default facility_mw x term_years)
    tier_class: str | None = None  # the traffic class whose lengths and TTFT define the tier
    min_user_tok_s: PositiveFloat = 1000.0  # the tier's per-user floor for "what it serves"
    models: list[str] = Field(default_factory=list, max_length=20)  # more models to report it for
    price_candidate: bool = True  # buy the candidate at the equivalent purchase price
    source: str = Field(default="", max_length=2000)


class PlanSpec(_Finite):
    candidates: list[CandidateSpec] = Field(min_length=1)
    power_budget_mw: PositiveFloat | None = None
    # what the budget holds: the units' nameplate power x PUE (a site is provisioned for it), or, opted in by
    # operators who cap or oversubscribe, the modelled peak draw x PUE; both / oversubscription
    power_basis: Literal["nameplate", "measured_peak"] = "nameplate"
    oversubscription: Annotated[float, NOT_BOOL, in_range(1.0, 2.0)] | None = None  # measured_peak needs it
    budget_options_mw: list[PositiveFloat] = Field(default_factory=list)  # extra budgets to re-plan at
    facility_usd_per_mw: NonNegativeFloat = 15.0e6
    facility_life_years: float = Field(default=15.0, gt=0.0, le=100.0)
    horizon_years: float = Field(default=3.0, gt=0.0, le=50.0)
    objective: Literal["cost", "power", "goodput"] = "cost"
    budget_usd_per_year: PositiveFloat | None = None  # objective goodput: annual TCO budget
    constraints: ConstraintSpec = ConstraintSpec()
    traffic: dict[str, ClassDemandSpec] = Field(default_factory=dict)
    verify: VerifySpec = VerifySpec()
    sensitivity: SensitivitySpec = SensitivitySpec()
    deal_terms: DealTermsSpec | None = None
    pareto_points: int = Field(default=7, ge=0, le=40)

    @model_validator(mode="after")
    def _checks(self) -> PlanSpec:
        hws = [c.hardware for c in self.candidates]
        if len(set(hws)) != len(hws):
            raise ValueError(f"candidates must name each hardware once, got {hws}")
        if self.objective == "goodput" and self.budget_usd_per_year is None and self.power_budget_mw is None:
            raise ValueError("objective goodput needs budget_usd_per_year or power_budget_mw")
        if self.power_basis == "measured_peak" and self.oversubscription is None:
            raise ValueError("power_basis measured_peak needs an explicit oversubscription (1: provision the "
                             "modelled peak draw; 1.2: 20 % more peak draw than provisioned power)")
        return self


class PlanScenario(Scenario):
    """A scenario for ``plan``: pools are optional (the planner writes them), ``plan`` is required."""

    pools: list[PoolSpec] = Field(default_factory=list)
    plan: PlanSpec

    @model_validator(mode="after")
    def _cross_checks(self) -> PlanScenario:  # replaces the base check, which needs pools
        names = [c.name for c in self.traffic]
        if len(set(names)) != len(names):
            raise ValueError(f"traffic class names must be unique, got {names}")
        unknown = sorted(set(self.plan.traffic) - set(names))
        if unknown:
            raise ValueError(f"plan.traffic names unknown classes {unknown} (classes: {names})")
        if self.pools:  # pools given by hand follow the simulator's rules (names, roles, tiers)
            pools = [p.name for p in self.pools]
            if len(set(pools)) != len(pools):
                raise ValueError(f"pool names must be unique, got {pools}")
            self._check_roles(pools)
            self._check_tiers()
        self._check_work()
        return self


def _check_id(kind: str, ident: str, where: str) -> None:
    try:
        catalog.hardware(ident) if kind == "hardware" else catalog.model(ident)
    except UnknownIdError as exc:
        raise ScenarioError(str(exc), where=where) from None


def check_plan(sc: PlanScenario, where: str) -> None:
    """Catalog ids and contradictory constraints; raises ScenarioError naming the field."""
    p = sc.plan
    for i, c in enumerate(p.candidates):
        _check_id("hardware", c.hardware, f"{where}: plan.candidates.{i}.hardware")
        if c.speculative is not None:
            _check_id("model", c.speculative.draft_model, f"{where}: plan.candidates.{i}.speculative.draft_model")
    vendors = {catalog.hardware(c.hardware).vendor for c in p.candidates}
    k = p.constraints
    if k.min_vendors > len(vendors):
        raise ScenarioError(f"min_vendors is {k.min_vendors} but the candidates come from only {len(vendors)} "
                            f"vendor(s): {', '.join(sorted(vendors))}", where=f"{where}: plan.constraints.min_vendors")
    if k.max_vendor_share * len(vendors) < 1.0 - 1e-9:
        raise ScenarioError(f"max_vendor_share {k.max_vendor_share} x {len(vendors)} vendor(s) < 100%: no fleet "
                            "can satisfy it", where=f"{where}: plan.constraints.max_vendor_share")
    too_much = k.min_vendors > 1 and k.min_vendor_share > k.max_vendor_share
    if k.min_vendor_share * k.min_vendors > 1.0 + 1e-9 or too_much:
        raise ScenarioError(f"min_vendor_share {k.min_vendor_share} x min_vendors {k.min_vendors} contradicts "
                            f"max_vendor_share {k.max_vendor_share}", where=f"{where}: plan.constraints")
    from tokenfleet.plan.units import candidate_unit, hosting_problem, lead_time_months

    if k.deadline_months is not None and all(lead_time_months(c) > k.deadline_months for c in p.candidates):
        raise ScenarioError(f"every candidate's lead time exceeds deadline_months {k.deadline_months}",
                            where=f"{where}: plan.constraints.deadline_months")
    pue_lo = sc.facility.pue - p.sensitivity.pue
    if p.sensitivity.enabled and pue_lo < 1.0 - 1e-9:
        raise ScenarioError(f"PUE {sc.facility.pue:g} - {p.sensitivity.pue:g} = {pue_lo:g} is below 1 (facility "
                            "power cannot be less than IT power); give a smaller range",
                            where=f"{where}: plan.sensitivity.pue")
    _check_terms(sc, where)
    models = sorted({t.model for t in sc.traffic})
    for i, c in enumerate(p.candidates):
        u = candidate_unit(c, f"{where}: plan.candidates.{i}")
        hw = catalog.hardware(c.hardware)
        for li, lay in enumerate(c.layouts or []):
            for m in models:
                try:
                    real = perf.make_layout(catalog.model(m), hw, lay.num_chips, lay.tp, lay.pp,
                                            lay.weight_precision, lay.kv_precision)
                except TokenfleetError:
                    continue
                why = hosting_problem(real, u, hw)
                if why:
                    raise ScenarioError(f"the {c.hardware} units cannot host this layout: {why}",
                                        where=f"{where}: plan.candidates.{i}.layouts.{li}")


def _check_terms(sc: PlanScenario, where: str) -> None:
    t = sc.plan.deal_terms
    if t is None:
        return
    hws = [c.hardware for c in sc.plan.candidates]
    if t.hardware not in hws:
        raise ScenarioError(f"{t.hardware!r} is not a candidate (candidates: {', '.join(hws)})",
                            where=f"{where}: plan.deal_terms.hardware")
    names = [c.name for c in sc.traffic]
    if t.tier_class is not None and t.tier_class not in names:
        raise ScenarioError(f"{t.tier_class!r} is not a traffic class (classes: {', '.join(names)})",
                            where=f"{where}: plan.deal_terms.tier_class")
    for i, m in enumerate(t.models):
        _check_id("model", m, f"{where}: plan.deal_terms.models.{i}")
    if t.mw_years is not None and t.mw_years > t.facility_mw * t.term_years * (1 + 1e-9):
        raise ScenarioError(f"{t.mw_years:g} MW-years is more than {t.facility_mw:g} MW for all "
                            f"{t.term_years:g} years", where=f"{where}: plan.deal_terms.mw_years")


def parse_plan_scenario(data: object, where: str = "scenario") -> PlanScenario:
    sc = parse_scenario(data, where, PlanScenario)
    check_plan(sc, where)
    return sc


def load_plan_scenario(path: str | Path) -> tuple[PlanScenario, Path]:
    sc, base = load_scenario(path, PlanScenario)
    check_plan(sc, Path(path).name)
    return sc, base


__all__ = [
    "CandidateSpec",
    "ClassDemandSpec",
    "ConstraintSpec",
    "DealTermsSpec",
    "PlanScenario",
    "PlanSpec",
    "SensitivitySpec",
    "SpecDecodeSpec",
    "UnitOverride",
    "VerifySpec",
    "check_plan",
    "load_plan_scenario",
    "parse_plan_scenario",
]
