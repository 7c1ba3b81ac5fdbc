"""Read the part of ``plan.json`` (written by ``tokenfleet plan --out``) that a deal uses.

The format this module reads (extra keys are ignored, so the planner may write more)::

    {
      "horizon_years": 3,
      "pools": [
        {"hardware": "cs3", "vendor": "Cerebras", "count": 480,
         "it_mw": 11.0, "facility_mw": 12.6,
         "capex_usd": 1.2e9, "opex_usd_per_year": 9.0e7}
      ],
      "totals": {"capex_usd": 1.2e9, "opex_usd_per_year": 9.0e7,
                 "facility_mw": 12.6, "output_tokens_per_year": 3.1e14}
    }

``facility_mw`` is power at the meter (IT load x PUE); a plan that states ``provisioned_mw`` (the power the
units bought can draw, on the plan's power basis) is read by that, as deals count MW. A deal file says::

    contract:
      from_plan: {path: plan.json, vendor: Cerebras, first_delivery: 2026-06-30,
                  deliveries: 3, spacing_months: 6, include: both}

and :func:`deliveries_from_plan` turns the vendor's pools into ``deliveries`` equal deliveries of
``facility_mw / deliveries`` MW each, ``spacing_months`` apart. Each delivery pays its share of the vendor's
capex on delivery (``include: capex`` or ``both``) and accrues its share of the vendor's opex per year
while in service (``opex`` or ``both``); the service life is ``horizon_years`` unless the contract sets
``service_years``.
Tokens per MW-year for effective prices = ``totals.output_tokens_per_year`` over ``totals.provisioned_mw``
(else ``totals.facility_mw``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError

from tokenfleet.errors import ScenarioError


class PlanPool(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    hardware: str
    vendor: str
    count: int = Field(ge=0)
    it_mw: NonNegativeFloat
    facility_mw: NonNegativeFloat
    capex_usd: NonNegativeFloat
    opex_usd_per_year: NonNegativeFloat
    provisioned_mw: NonNegativeFloat | None = None

    @property
    def deal_mw(self) -> float:
        """The MW a deal counts: provisioned where the plan says it, else the modelled draw at the meter."""
        return self.provisioned_mw if self.provisioned_mw is not None else self.facility_mw


class PlanTotals(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    capex_usd: NonNegativeFloat
    opex_usd_per_year: NonNegativeFloat
    facility_mw: NonNegativeFloat
    output_tokens_per_year: NonNegativeFloat
    provisioned_mw: NonNegativeFloat | None = None


class PlanFile(BaseModel):
    """The slice of ``plan.json`` the deal layer depends on."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    pools: list[PlanPool]
    totals: PlanTotals
    horizon_years: float = Field(gt=0.0)


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One delivery built from a plan: time offset in years from the first delivery, MW and payments."""

    offset_years: float
    mw: float
    lump_usd: float
    accrual_usd_per_year: float


@dataclass(frozen=True, slots=True)
class PlanSchedule:
    deliveries: tuple[PlannedDelivery, ...]
    tokens_per_mw_year: float | None
    horizon_years: float
    pools: tuple[str, ...]


def load_plan(path: Path) -> PlanFile:
    """Parse and validate ``plan.json``; errors name the file and field."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ScenarioError("plan file not found", where=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not valid JSON ({exc.msg} at line {exc.lineno})", where=str(path)) from exc
    try:
        return PlanFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ScenarioError(err["msg"], where=f"{path}: {loc}") from exc


def deliveries_from_plan(
    plan: PlanFile, vendor: str, deliveries: int, spacing_months: float, include: str, where: str
) -> PlanSchedule:
    """Split the ``vendor`` pools of ``plan`` into equal deliveries (see the module docstring)."""
    pools = [p for p in plan.pools if p.vendor.lower() == vendor.lower()]
    if not pools:
        vendors = sorted({p.vendor for p in plan.pools})
        raise ScenarioError(f"plan has no pools from vendor {vendor!r} (vendors: {', '.join(vendors)})", where=where)
    mw = sum(p.deal_mw for p in pools)
    capex = sum(p.capex_usd for p in pools) if include in ("capex", "both") else 0.0
    opex = sum(p.opex_usd_per_year for p in pools) if include in ("opex", "both") else 0.0
    if mw <= 0.0:
        raise ScenarioError(f"vendor {vendor!r} pools have no facility_mw", where=where)
    t = plan.totals
    total_mw = t.provisioned_mw if t.provisioned_mw is not None else t.facility_mw
    tokens = t.output_tokens_per_year / total_mw if total_mw > 0 and t.output_tokens_per_year > 0 else None
    items = tuple(
        PlannedDelivery(
            offset_years=i * spacing_months / 12.0,
            mw=mw / deliveries,
            lump_usd=capex / deliveries,
            accrual_usd_per_year=opex / deliveries,
        )
        for i in range(deliveries)
    )
    return PlanSchedule(items, tokens, plan.horizon_years, tuple(f"{p.hardware} x{p.count}" for p in pools))


__all__ = [
    "PlanFile",
    "PlanPool",
    "PlanSchedule",
    "PlanTotals",
    "PlannedDelivery",
    "deliveries_from_plan",
    "load_plan",
]
