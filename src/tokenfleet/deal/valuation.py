"""Value a deal: run the Monte Carlo in chunks, reduce it to per-tranche, contract and ownership figures.

Per tranche: probability of vesting, expected vesting date, MC value with its standard error, the closed form
or semi-analytic value where one applies (:mod:`tokenfleet.deal.tranche_forms`), and a warning when the terms
make it impossible to vest (:mod:`tokenfleet.deal.feasibility`) or it vested on no simulated path.

Memory does not grow with the number of paths: every statistic is streamed chunk by chunk, percentiles of the
total come from a fixed histogram (:mod:`tokenfleet.deal.stats`).

Warrant values are risk-neutral (discounted at the risk-free rate). Contract cash flows are discounted at the
buyer's ``discount_rate`` (and the issuer's ``issuer_discount_rate``). Effective prices:
``(expected payments - expected warrant value) / expected MW-years`` (or MW delivered, or million tokens). The
buyer's NPV needs a market value for the compute (``contract.market_usd_per_mw_year``); without one it is
``None``, and only the PV of payments net of warrants is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.contract import date_at
from tokenfleet.deal.feasibility import tranche_warnings
from tokenfleet.deal.model import Deal
from tokenfleet.deal.montecarlo import CHUNK_PATHS, simulate
from tokenfleet.deal.results import (
    ContractOutcome,
    DealValuation,
    Distribution,
    EffectivePrices,
    Ownership,
    PointValue,
    TrancheValue,
)
from tokenfleet.deal.stats import RunningMoments, StreamingDistribution
from tokenfleet.deal.tranche_forms import MilestoneTimes, closed_form_tranche
from tokenfleet.deal.warrant import Tranche, Warrant

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int], None]


def value_deal(
    deal: Deal, paths: int | None = None, seed: int | None = None, progress: Progress | None = None
) -> DealValuation:
    """Value ``deal`` with ``paths`` MC paths (default: the file's); ``progress(n)`` after each chunk."""
    t_start = time.perf_counter()
    st = deal.settings
    paths = paths if paths is not None else st.paths
    seed = seed if seed is not None else st.seed
    dt = 1.0 / st.steps_per_year
    n = max(1, math.ceil(deal.horizon_years * st.steps_per_year - 1e-9))
    grid = np.asarray(np.arange(n + 1) * dt, dtype=np.float64)
    contract = deal.contract
    tranches = deal.tranches()
    n_tr = len(tranches)
    moments = RunningMoments(n_tr)
    vested = np.zeros(n_tr)
    sum_tau = np.zeros(n_tr)
    vest_hist = np.zeros((n_tr, n + 2))
    total_dist = StreamingDistribution()
    milestones = [_milestone_times(w, t) for w, t in tranches]
    acc = {k: 0.0 for k in ("purchases", "shortfall", "short_p", "mw_end", "mw_years", "pv_b", "pv_i", "pv_mwy")}
    spend_path = np.zeros(n + 1)
    mw_path = np.zeros(n + 1)
    sampled = 0
    far = 1e6
    for chunk in simulate(deal, paths, seed):
        times = chunk.delivery_times
        m = times.shape[0]
        falls = contract.shortfalls(times)
        short = falls.sum(axis=1)
        acc["purchases"] += float(contract.spend_at(far, times).sum())
        acc["shortfall"] += float(short.sum())
        acc["short_p"] += float((short > 0).sum())
        acc["mw_end"] += float(contract.mw_delivered_by(contract.end_years, times).sum())
        acc["mw_years"] += float(contract.mw_years(times).sum())
        acc["pv_b"] += float(contract.pv_buyer_cash(times, falls, st.discount_rate).sum())
        acc["pv_i"] += float(contract.pv_buyer_cash(times, falls, st.issuer_discount_rate).sum())
        acc["pv_mwy"] += float(contract.pv_mw_years(times, st.discount_rate).sum())
        if sampled < CHUNK_PATHS:  # the report's expected spend / MW curves: the first CHUNK_PATHS paths
            spend_path += contract.spend_on_grid(grid, times).sum(axis=0)
            mw_path += ((times[:, :, None] <= grid[None, None, :]) * contract.mw[None, :, None]).sum(axis=1).sum(0)
            sampled += m
        if n_tr:
            pv, tau = chunk.pv_usd, chunk.tau_years
            moments.add(pv)
            for i in range(n_tr):
                milestones[i].add(chunk.perf_years[i])
            ok = np.isfinite(tau)
            vested += ok.sum(axis=1)
            sum_tau += np.where(ok, tau, 0.0).sum(axis=1)
            idx = np.where(ok, np.ceil(np.where(ok, tau, 0.0) / dt - 1e-9), n + 1).astype(np.int64)
            for i in range(n_tr):
                vest_hist[i] += np.bincount(np.minimum(idx[i], n + 1), minlength=n + 2)
            total_dist.add(pv.sum(axis=0))
        if progress is not None:
            progress(m)
    mean = {k: v / paths for k, v in acc.items()}
    reasons = tranche_warnings(deal)
    tranche_values = tuple(
        _tranche_value(deal, w, t, i, paths, moments, vested, sum_tau, vest_hist, milestones[i], reasons[i])
        for i, (w, t) in enumerate(tranches)
    )
    total = _distribution(total_dist) if n_tr else None
    warrant_value = total.mean if total is not None else 0.0
    contract_out = _contract_outcome(deal, mean, spend_path / max(sampled, 1), mw_path / max(sampled, 1))
    prices = _prices(deal, contract_out, warrant_value)
    net_cost = contract_out.pv_buyer_payments_usd - warrant_value
    compute = contract_out.pv_compute_value_usd
    buyer_npv = compute - net_cost if compute is not None else None
    issuer_net = contract_out.pv_issuer_receipts_usd - warrant_value
    revenue = mean["purchases"] + mean["shortfall"]
    notes = _notes(deal, contract_out, paths)
    points = tuple(_point_values(deal, paths, seed))
    return DealValuation(
        deal=deal.name,
        paths=paths,
        seed=seed,
        steps_per_year=st.steps_per_year,
        start_date=deal.start_date,
        grid_dates=tuple(date_at(deal.start_date, float(t)) for t in grid),
        tranches=tranche_values,
        total=total,
        contract=contract_out,
        prices=prices,
        buyer_npv_usd=buyer_npv,
        buyer_net_cost_usd=net_cost,
        issuer_net_usd=issuer_net,
        warrant_value_to_revenue=warrant_value / revenue if revenue > 0 and deal.warrants else None,
        ownership=_ownership(deal, vest_hist, paths),
        valuation_points=points,
        notes=notes,
        warnings=tuple(f"{t.name}: {t.warning}" for t in tranche_values if t.warning),
        elapsed_s=time.perf_counter() - t_start,
    )


def _tranche_value(
    deal: Deal,
    w: Warrant,
    t: Tranche,
    i: int,
    paths: int,
    moments: RunningMoments,
    vested: FloatArray,
    sum_tau: FloatArray,
    vest_hist: FloatArray,
    times: MilestoneTimes,
    reason: str | None,
) -> TrancheValue:
    mean = float(moments.mean[i])
    var = float(moments.variance[i])
    p = float(vested[i] / paths)
    exp_tau = sum_tau[i] / vested[i] if vested[i] else None
    closed, method = closed_form_tranche(deal, w, t, p, times)
    if reason is not None:
        closed, method = 0.0, "cannot vest"
    elif vested[i] == 0:
        reason = f"vested on none of {paths:,} paths (conditions never met together before expiry)"
    cum = np.cumsum(vest_hist[i][:-1]) / paths
    return TrancheValue(
        warrant=w.name,
        name=t.name,
        conditions=t.describe(),
        shares=t.shares,
        vest_probability=p,
        expected_vest_date=date_at(deal.start_date, exp_tau) if exp_tau is not None else None,
        value_usd=mean,
        stderr_usd=math.sqrt(var / paths),
        closed_form_usd=closed,
        method=method,
        cumulative_vest_probability=tuple(float(x) for x in cum),
        vesting=t.vesting,
        warning=reason,
    )


def _milestone_times(w: Warrant, t: Tranche) -> MilestoneTimes:
    h = t.hurdle
    if h is not None and h.mode == "at_date":
        return MilestoneTimes(by=h.test_years, cut=w.expiry_years)
    if h is not None and t.vesting == "concurrent":
        return MilestoneTimes(cut=min(w.expiry_years, h.window_end_years))
    return MilestoneTimes(cut=w.expiry_years)


def _distribution(d: StreamingDistribution) -> Distribution:
    pct = [d.percentile(q) for q in (5, 25, 50, 75, 95)]
    hi = d.percentile(99.9)
    edges, counts = d.histogram(60, hi if hi > 0 else 1.0)
    sd = math.sqrt(float(d.moments.variance[0]))
    return Distribution(
        mean=float(d.moments.mean[0]),
        stdev=sd,
        stderr=sd / math.sqrt(max(d.n, 1)),
        p5=pct[0],
        p25=pct[1],
        p50=pct[2],
        p75=pct[3],
        p95=pct[4],
        probability_zero=d.zeros / max(d.n, 1),
        bin_edges=tuple(float(x) for x in edges),
        counts=tuple(int(x) for x in counts),
    )


def _contract_outcome(
    deal: Deal, mean: dict[str, float], spend_path: FloatArray, mw_path: FloatArray
) -> ContractOutcome:
    c = deal.contract
    other = c.other_payments_usd
    market = c.market_usd_per_mw_year
    return ContractOutcome(
        scheduled_spend_usd=float(c.spend_at(1e6, c.scheduled_times(False))[0]),
        scheduled_spend_with_options_usd=float(c.spend_at(1e6, c.scheduled_times(True))[0]),
        expected_purchases_usd=mean["purchases"],
        expected_shortfall_usd=mean["shortfall"],
        shortfall_probability=mean["short_p"],
        other_payments_usd=other,
        expected_total_payments_usd=mean["purchases"] + mean["shortfall"] + other,
        expected_mw_delivered=mean["mw_end"],
        expected_mw_years=mean["mw_years"],
        pv_buyer_payments_usd=mean["pv_b"],
        pv_issuer_receipts_usd=mean["pv_i"],
        pv_compute_value_usd=market * mean["pv_mwy"] if market is not None else None,
        spend_path_usd=tuple(float(x) for x in spend_path),
        mw_path=tuple(float(x) for x in mw_path),
    )


def _prices(deal: Deal, c: ContractOutcome, warrant_usd: float) -> EffectivePrices:
    pay = c.expected_total_payments_usd

    def ratio(den: float | None) -> tuple[float | None, float | None]:
        if not den or den <= 0.0:
            return None, None
        return pay / den, (pay - warrant_usd) / den

    per_mwy = ratio(c.expected_mw_years)
    per_mw = ratio(c.expected_mw_delivered)
    tok = deal.contract.tokens_per_mw_year
    per_mtok = ratio(c.expected_mw_years * tok / 1e6 if tok else None)
    return EffectivePrices(per_mwy[0], per_mwy[1], per_mw[0], per_mw[1], per_mtok[0], per_mtok[1])


def _ownership(deal: Deal, vest_hist: FloatArray, paths: int) -> tuple[Ownership, ...]:
    eq = deal.equity
    if eq is None or not deal.warrants:
        return ()
    tranches = deal.tranches()
    shares = np.array([t.shares for _, t in tranches])
    cum = np.cumsum(vest_hist[:, :-1], axis=1) / paths * shares[:, None]  # expected vested shares per tranche
    issued = cum.sum(axis=0)
    all_warrant_shares = float(shares.sum())
    out = []
    for holder in dict.fromkeys(w.holder for w in deal.warrants):
        mask = np.array([w.holder == holder for w, _ in tranches])
        before = sum(w.holder_shares_before for w in deal.warrants if w.holder == holder)
        held = before + cum[mask].sum(axis=0)
        full = (before + float(shares[mask].sum())) / (eq.shares_outstanding + all_warrant_shares)
        out.append(
            Ownership(
                holder=holder,
                shares_before=before,
                expected_shares=tuple(float(x) for x in held),
                fraction=tuple(float(x) for x in held / (eq.shares_outstanding + issued)),
                fully_vested_fraction=full,
            )
        )
    return tuple(out)


def _point_values(deal: Deal, paths: int, seed: int) -> list[PointValue]:
    """Total warrant value at each valuation point's share price (same seed: common random numbers)."""
    if not deal.warrants or not deal.valuation_points:
        return []
    n = min(paths, max(CHUNK_PATHS // 4, paths // 10))
    out = []
    for vp in deal.valuation_points:
        acc = RunningMoments(1)
        for c in simulate(deal, n, seed, s0=vp.share_price_usd):
            acc.add(c.pv_usd.sum(axis=0)[None, :])
        sd = math.sqrt(float(acc.variance[0]))
        out.append(PointValue(vp.label, vp.date, vp.share_price_usd, float(acc.mean[0]), sd / math.sqrt(n)))
    return out


def _notes(deal: Deal, c: ContractOutcome, paths: int) -> tuple[str, ...]:
    notes = []
    for w in deal.warrants:
        allotted = sum(t.shares for t in w.tranches)
        if allotted < w.shares * (1 - 1e-9):
            notes.append(f"{w.name}: tranches allot {allotted:,.0f} of {w.shares:,.0f} shares; the rest is not valued")
    if c.shortfall_probability > 0:
        notes.append(f"take-or-pay shortfall on {c.shortfall_probability:.1%} of paths")
    if paths > CHUNK_PATHS:
        notes.append(f"expected spend / MW curves use the first {CHUNK_PATHS:,} paths")
    return tuple(notes)


__all__ = ["value_deal"]
