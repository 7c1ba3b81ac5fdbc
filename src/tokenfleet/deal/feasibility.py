"""Tranches that cannot vest, found from the terms alone, each with its reason in the contract's own units.

A tranche cannot vest when it asks more GW than every delivery and option together bring, more spend than the
contract can ever pay, a price test on a date before its milestone can be met, or a milestone that can only be
met after the warrant expires (or, under the concurrent rule, after its price window closes). "Can be met" uses
the schedule with every option exercised and no delay; additive delays only make milestones later. When schedule
risk can deliver early, only the capacity and spend limits are certain, and the date checks are left to the
Monte Carlo (:func:`tokenfleet.deal.valuation.value_deal` adds a warning for any tranche that vested on no path).
"""

from __future__ import annotations

import math

from tokenfleet.deal.contract import Contract, date_at
from tokenfleet.deal.model import Deal
from tokenfleet.deal.warrant import Tranche, Warrant, mw_hit_years

_FAR_YEARS = 1000.0


def _usd(x: float) -> str:
    return f"${x / 1e12:,.3g}T" if abs(x) >= 1e12 else f"${x / 1e9:,.3g}B"


def max_spend_usd(c: Contract) -> float:
    """Most the contract can pay towards spend: every delivery and option, in service as long as it can be."""
    lump = sum(d.lump_usd for d in c.deliveries)
    span = c.service_years if c.service_years is not None else c.end_years
    accrual = sum(d.accrual_usd_per_year for d in c.deliveries) * span
    return lump + accrual


def earliest_milestone_years(deal: Deal, tranche: Tranche) -> float:
    """Earliest time the tranche's performance conditions can be met (0 without any; +inf if never)."""
    c = deal.contract
    sched = c.scheduled_times(True)
    t = 0.0
    if tranche.mw_delivered is not None:
        t = max(t, float(mw_hit_years(sched, c.mw, tranche.mw_delivered)[0]))
    if tranche.spend_usd is not None:
        hit = float(c.spend_hit_years(tranche.spend_usd, _FAR_YEARS, sched, None)[0])
        if c.shortfall_counts_toward_vesting:
            by_commitment = [m.time_years for m in c.commitments if m.minimum_spend_usd >= tranche.spend_usd]
            hit = min([hit, *by_commitment])
        t = max(t, hit)
    return t


def cannot_vest_reason(deal: Deal, warrant: Warrant, tranche: Tranche) -> str | None:
    """Why ``tranche`` can never vest, or ``None`` if it can on some path."""
    c = deal.contract
    start = deal.start_date
    if tranche.mw_delivered is not None:
        most = float(c.mw.sum())
        if tranche.mw_delivered > most * (1.0 + 1e-9):
            return (
                f"asks {tranche.mw_delivered / 1e3:,.3g} GW delivered, but the contract delivers at most "
                f"{most / 1e3:,.3g} GW (every delivery and option)"
            )
    if tranche.spend_usd is not None:
        most = max_spend_usd(c)
        if c.shortfall_counts_toward_vesting and c.commitments:
            most = max(most, max(m.minimum_spend_usd for m in c.commitments))
        if tranche.spend_usd > most * (1.0 + 1e-9):
            return (
                f"asks {_usd(tranche.spend_usd)} of spend, but the contract can pay at most {_usd(most)} "
                "(every delivery and option, in service for the whole term)"
            )
    if c.can_deliver_early:
        return None
    earliest = earliest_milestone_years(deal, tranche)
    if not math.isfinite(earliest):
        return "its milestone is never met by the scheduled deliveries"
    when = date_at(start, earliest)
    expiry = date_at(start, warrant.expiry_years)
    if earliest > warrant.expiry_years + 1e-9:
        return f"its milestone is met on {when} at the earliest, after the warrant expires on {expiry}"
    h = tranche.hurdle
    if h is not None and h.mode == "at_date" and earliest > h.test_years + 1e-9:
        test = date_at(start, h.test_years)
        return f"its price test is on {test}, before its milestone can be met ({when} at the earliest)"
    if (
        h is not None
        and h.mode == "touch"
        and tranche.vesting == "concurrent"
        and earliest > min(h.window_end_years, warrant.expiry_years) + 1e-9
    ):
        end = date_at(start, min(h.window_end_years, warrant.expiry_years))
        return (
            f"its price window closes on {end}, before its milestone can be met ({when} at the earliest); "
            "under the concurrent rule both must hold on one date"
        )
    return None


def tranche_warnings(deal: Deal) -> list[str | None]:
    """:func:`cannot_vest_reason` for every tranche, in :meth:`Deal.tranches` order."""
    return [cannot_vest_reason(deal, w, t) for w, t in deal.tranches()]


__all__ = ["cannot_vest_reason", "earliest_milestone_years", "max_spend_usd", "tranche_warnings"]
