"""The validated deal as frozen domain types: contract, issuer equity, warrants and valuation settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tokenfleet.deal.contract import Contract
from tokenfleet.deal.warrant import Equity, Tranche, Warrant


@dataclass(frozen=True, slots=True)
class ValuationSettings:
    risk_free_rate: float = 0.04
    discount_rate: float = 0.08  # buyer's
    issuer_discount_rate: float = 0.08
    paths: int = 100_000
    seed: int = 0
    steps_per_year: int = 12
    vested_value: str = "black_scholes"


@dataclass(frozen=True, slots=True)
class ValuationPoint:
    date: dt.date
    label: str
    share_price_usd: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    note: str = ""
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Deal:
    name: str
    contract: Contract
    equity: Equity | None = None
    warrants: tuple[Warrant, ...] = ()
    settings: ValuationSettings = ValuationSettings()
    valuation_points: tuple[ValuationPoint, ...] = ()
    description: str = ""
    sources: tuple[Source, ...] = ()
    assumptions: tuple[str, ...] = ()

    @property
    def start_date(self) -> dt.date:
        return self.contract.start_date

    @property
    def horizon_years(self) -> float:
        """Simulation horizon: the later of the contract end and the last warrant expiry."""
        return max([self.contract.end_years, *(w.expiry_years for w in self.warrants)])

    def tranches(self) -> list[tuple[Warrant, Tranche]]:
        """Every tranche with its warrant, in file order."""
        return [(w, t) for w in self.warrants for t in w.tranches]


__all__ = ["Deal", "Source", "ValuationPoint", "ValuationSettings"]
