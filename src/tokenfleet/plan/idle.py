"""Why a pool idles: every pool below ``LOW_LOAD`` of its capacity at its planned peak gets a line saying why
(the minimum unit size, and whether any other candidate meets the SLO) and what the nearest cheaper
alternative is (the anchor class's nearest looser SLO breakpoint, found by re-solving)."""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet.plan.milp import Problem
from tokenfleet.plan.sensitivity import Breakpoint
from tokenfleet.plan.text import num, pct

LOW_LOAD = 0.25


@dataclass(frozen=True, slots=True)
class IdleNote:
    pool: str
    peak_load: float
    why: str
    alternative: str

    def text(self) -> str:
        return f"{self.pool} at {pct(self.peak_load)} of its capacity at peak: {self.why}; {self.alternative}"


def idle_notes(pools: list, p: Problem, bps: list[Breakpoint],  # pools: list[PoolPlan]
               searched: bool = True) -> list[IdleNote]:
    """A note per pool below :data:`LOW_LOAD`; ``searched``: the breakpoints were looked for (not with
    ``--no-sensitivity``)."""
    out = []
    for q in pools:
        if q.peak_load >= LOW_LOAD:
            continue
        d = next(d for d in p.demands if d.name == q.class_name)
        others = sorted({o.hw_id for o in p.options if o.class_idx == p.demands.index(d)} - {q.hw_id})
        cap = q.rate_rps_per_replica * q.replicas
        unit = f"{q.units:,} {q.unit_name}{'s' if q.units != 1 else ''}" if q.units else "part of a shared unit"
        load = ", ".join(f"{k} {num(v)}" for k, v in q.class_rps.items())
        who = (f"the smallest replica meeting {q.class_name}'s SLO ({d.slo.describe()}) is {q.layout} on {unit}"
               if q.replicas == 1 else f"{q.replicas:,} replicas of {q.layout} on {unit}")
        why = (f"{who} and carries {num(cap)} req/s of {q.class_name}; the plan puts {load} req/s on it"
               + ("; no other candidate meets that SLO" if not others
                  else f"; {', '.join(others)} also meet it but cost more here"))
        mine = [b for b in bps if b.class_name == q.class_name and b.direction == "looser"
                and b.tco_looser_usd is not None and b.tco_tighter_usd is not None
                and b.tco_looser_usd < b.tco_tighter_usd]
        if mine:
            alt = "the nearest cheaper alternative: " + min(mine, key=lambda b: b.distance).sentence()
        elif searched:
            alt = "no cheaper fleet up to twice its SLO targets (the SLO breakpoint search found none)"
        else:
            alt = "the nearest cheaper alternative was not searched (--no-sensitivity)"
        out.append(IdleNote(q.name, q.peak_load, why, alt))
    return out


__all__ = ["LOW_LOAD", "IdleNote", "idle_notes"]
