"""Latency evidence that recovers: one rule for the live gateway's router and the simulator's router model.

A router that corrects the performance model with what it observed (``estimate = max(model, observed)``)
must not let old evidence rule for ever. With evidence updated only by successes, one slow spell (a
stall, a hung backend's failover wait, a flood that starved the event loop) pushes the observed average
past a class's SLO; admission then refuses every request of that class, none is forwarded, and the
average never comes down — the pool is wedged while the backend answers in 0.2 s. The rule here:

* :class:`ObservedLatency` is a time-aware moving average: a new sample weighs more the older the
  average is (``alpha_eff = 1 - (1 - alpha) * 2**(-age / half_life_s)``), and what the router reads
  (:meth:`ObservedLatency.read`) fades towards the model's prediction (or towards nothing, where there is
  no model) with the same half-life when no sample comes;
* **freshness**: evidence older than ``fresh_s`` may steer a decision but never refuse one — when no
  endpoint can meet a request's SLO on the evidence, an endpoint whose pool has not been tried for
  ``fresh_s`` is tried instead (:func:`stale_rows`), so a pool is re-measured at least that often
  under any traffic that wants it;
* an estimate that blocks admission is re-measured by a probe (the gateway sends one; the simulator's
  replicas need none: its router reads their true state, so only its observations lag).

The simulator's router model applies the same rule through :class:`Evidence` (the per-row, vectorised
form): each replica's observed TTFT (less its own prompt's prefill) corrects the predicted TTFT the
policy reads, fading to the prediction with the same half-life, so a policy that steers by TTFT in a plan
meets the same lag it meets in the live gateway, and an idle replica's evidence fades instead of keeping
it out of routing. Nothing here reads a clock: callers pass ``now`` (monotonic seconds in the gateway,
simulated seconds in the simulator), so the rule is the same object in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenfleet.routing.plugins import Profile
    from tokenfleet.routing.table import EndpointTable
    from tokenfleet.routing.types import RequestInfo


@dataclass(frozen=True, slots=True)
class HealthRule:
    """How fast latency evidence fades and how old it may be to refuse a request."""

    alpha: float = 0.2  # weight of the newest sample in a steady stream of them
    half_life_s: float = 5.0  # evidence halves towards the model every half-life without a new sample
    fresh_s: float = 5.0  # a pool not tried for this long is tried rather than refused

    def decay(self, age_s: float) -> float:
        """Weight left to evidence ``age_s`` seconds old (1 now, 1/2 after one half-life)."""
        return math.exp2(-max(0.0, age_s) / self.half_life_s)


DEFAULT_RULE = HealthRule()


class ObservedLatency:
    """A moving average of one latency (seconds) of one endpoint that fades without new samples."""

    __slots__ = ("at_s", "mean_s", "samples")

    def __init__(self) -> None:
        self.mean_s: float | None = None
        self.at_s = 0.0  # when the last sample came
        self.samples = 0

    def observe(self, sample_s: float, now: float, rule: HealthRule = DEFAULT_RULE) -> None:
        if self.mean_s is None:
            self.mean_s = sample_s
        else:
            w = 1.0 - (1.0 - rule.alpha) * rule.decay(now - self.at_s)  # stale average: the sample counts more
            self.mean_s += w * (sample_s - self.mean_s)
        self.at_s = now
        self.samples += 1

    def read(self, now: float, floor_s: float = 0.0, rule: HealthRule = DEFAULT_RULE) -> float | None:
        """The evidence now: the average's excess over ``floor_s`` (the model's prediction) fades with age;
        None before any sample."""
        if self.mean_s is None:
            return None
        if self.mean_s <= floor_s:
            return self.mean_s
        return floor_s + (self.mean_s - floor_s) * rule.decay(now - self.at_s)

    def age_s(self, now: float) -> float:
        return now - self.at_s if self.samples else math.inf

    def reset(self) -> None:
        self.mean_s, self.at_s, self.samples = None, 0.0, 0


def corrected_s(model_s: float, observed: ObservedLatency, now: float, rule: HealthRule = DEFAULT_RULE,
                offset_s: float = 0.0) -> float:
    """The estimate a router uses: the model's prediction, raised to the fading observation (less
    ``offset_s``, the part of the observation the model predicts separately, e.g. the average prompt's
    prefill), never lowered by it."""
    seen = observed.read(now, model_s + offset_s, rule)
    return model_s if seen is None else max(model_s, seen - offset_s)


def stale_rows(last_tried_s: np.ndarray, candidates: np.ndarray, now: float,
               rule: HealthRule = DEFAULT_RULE) -> np.ndarray:
    """Candidate rows whose pool was last tried ``fresh_s`` or more ago (never tried: -inf): evidence
    too old to refuse a request on."""
    return candidates[now - last_tried_s[candidates] >= rule.fresh_s]


def reads_ttft(profile: Profile) -> bool:
    """True when a plugin of ``profile`` reads predicted TTFT (a TTFT scorer or an SLO filter)."""
    from tokenfleet.routing.filters import SloFeasibleFilter
    from tokenfleet.routing.scorers import TtftScorer

    plugins = [*profile.filters, *(s for s, _ in profile.scorers)]
    return any(isinstance(p, TtftScorer | SloFeasibleFilter) for p in plugins)


class Evidence:
    """Observed TTFT per row of an :class:`~tokenfleet.routing.table.EndpointTable` (the simulator's
    router model), the time-aware average of :class:`ObservedLatency` kept as arrays."""

    def __init__(self, rows: int, rule: HealthRule = DEFAULT_RULE) -> None:
        self.rule = rule
        self.mean_s = np.full(rows, np.nan)
        self.at_s = np.zeros(rows)

    def observe(self, row: int, sample_s: float, now: float) -> None:
        m = self.mean_s[row]
        if m != m:  # NaN: the first sample
            self.mean_s[row] = sample_s
        else:
            w = 1.0 - (1.0 - self.rule.alpha) * self.rule.decay(now - self.at_s[row])
            self.mean_s[row] = m + w * (sample_s - m)
        self.at_s[row] = now

    def corrected(self, predicted_s: np.ndarray, now: float) -> np.ndarray:
        """:func:`corrected_s` for every row at once (rows without a sample keep the prediction)."""
        decay = np.exp2(-np.maximum(0.0, now - self.at_s) / self.rule.half_life_s)
        seen = predicted_s + (self.mean_s - predicted_s) * decay
        return np.where(self.mean_s > predicted_s, seen, predicted_s)

    def pick_row(self, profile: Profile, req: RequestInfo, table: EndpointTable, now: float) -> int:
        """``profile.pick_row`` on the table with its predicted TTFT corrected by the evidence at ``now``
        (the table's own column is left as it was)."""
        base = table.predicted_ttft_s
        table.predicted_ttft_s = self.corrected(base, now)
        try:
            return profile.pick_row(req, table)
        finally:
            table.predicted_ttft_s = base


__all__ = ["DEFAULT_RULE", "Evidence", "HealthRule", "ObservedLatency", "corrected_s", "reads_ttft",
           "stale_rows"]
