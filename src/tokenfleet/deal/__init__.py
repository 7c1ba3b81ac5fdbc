"""Compute deals: contracts (commitments, MW tranches, options, take-or-pay, financing) and warrants that vest
with spend, GW delivered and share-price hurdles, valued in closed form and by Monte Carlo.

    load_deal(path) -> Deal                      # YAML -> validated frozen domain types
    value_deal(deal, paths, seed) -> DealValuation
    write_report(deal, valuation, out_dir)       # report.html, tables.xlsx (tokenfleet.deal.report)
"""

from __future__ import annotations

from tokenfleet.deal.load import load_deal, parse_deal
from tokenfleet.deal.model import Deal
from tokenfleet.deal.results import DealValuation
from tokenfleet.deal.valuation import value_deal

__all__ = ["Deal", "DealValuation", "load_deal", "parse_deal", "value_deal"]
