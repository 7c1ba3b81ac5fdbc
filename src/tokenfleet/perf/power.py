"""Power and energy of a replica at an operating point: activity from the step breakdown, PUE on top.

The wall-power formula of one hardware family is :mod:`tokenfleet.perf.power_model` (idle floor, dynamic
part up to the power cap, host share), fitted on MLPerf power runs. Here a replica's *activity* comes from
what its steps do (:func:`tokenfleet.perf.power_model.activity` of each step's compute and memory time) and
from how much of the time it has work:

* :func:`power_at_rate` — a replica serving ``output_tok_s``: continuous batching settles at the batch ``B``
  whose throughput ``B / t(B)`` carries that rate (Little's law), stepping all the time; below the rate of
  batch 1 it steps a fraction of the time. Power never decreases as the rate rises.
* :func:`operating_power_w` — at an operating point of :mod:`tokenfleet.perf.steady` (batch and rate).

With speculation on hardware where the draft has its own units (wafer, LPU, three-tier) the draft draws its
own power; on an HBM device it shares the target's chips, whose busy fraction is the sum of both.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet.perf import power_model
from tokenfleet.perf.deployment import Deployment, StepCost
from tokenfleet.perf.speculative import SpecDecode
from tokenfleet.perf.steady import Operating, _batch_grid, max_batch, steady_round

DEFAULT_PUE = 1.2  # AI-purpose liquid-cooled site (hyperscale 1.1-1.2; shared/data/hardware/energy_notes.md)


def facility_w(it_power_w: float, pue: float = DEFAULT_PUE) -> float:
    """Facility power drawn for ``it_power_w`` of IT load."""
    return it_power_w * pue


def draft_has_own_units(dep: Deployment) -> bool:
    device = getattr(dep, "device", None)
    own = getattr(device, "draft_has_own_units", None)
    return bool(own) if own is not None else dep.hw.is_sram


def _act(c: StepCost) -> float:
    """Activity of a step: its GEMMs' row padding counts as memory-bound time (``StepCost.padding_s``)."""
    return power_model.activity(c.compute_s - c.padding_s, max(c.memory_s, c.compute_s), c.time_s)


@dataclass(frozen=True, slots=True)
class PowerPoint:
    """IT power of one replica at a load, with the batch it runs and its activities."""

    power_w: float
    batch: int
    busy: float  # fraction of time the replica is stepping
    activity: float  # target's activity while stepping (0..1)
    draft_activity: float = 0.0
    output_tok_s: float = 0.0

    @property
    def joules_per_output_token(self) -> float:
        return self.power_w / self.output_tok_s if self.output_tok_s > 0 else float("inf")


def _per_token(dep: Deployment, spec: SpecDecode | None, batch: int, isl: float,
               osl: float) -> tuple[float, float, float]:
    """(seconds per output token per sequence, target activity, draft activity) at ``batch`` in steady state."""
    if spec is None:
        cost = dep.step(round(batch * isl / osl), batch, int(batch * (isl + osl / 2.0)),
                        (batch / osl) * 0.5 * isl * isl)
        return cost.time_s, _act(cost), 0.0
    rnd = steady_round(dep, spec, batch, isl, osl)
    t = rnd.time_s
    target = rnd.verify.time_s * _act(rnd.verify) / t
    draft = sum(c.time_s * _act(c) for c in rnd.draft_steps) / t
    return t / spec.tokens_per_round, target, draft


def _draw(dep: Deployment, spec: SpecDecode | None, busy: float, act: float, draft_act: float,
          cap_w: float | None, liquid: bool) -> float:
    hw = dep.hw
    if spec is not None and not draft_has_own_units(dep):
        act = act + draft_act
    watts = power_model.draw_w(hw, dep.num_chips, busy * act, cap_w, liquid)
    if spec is not None and draft_has_own_units(dep):
        watts += power_model.draw_w(spec.draft.hw, spec.draft.num_chips, busy * draft_act, cap_w, liquid)
    return watts


def idle_power_w(dep: Deployment, spec: SpecDecode | None = None, cap_w: float | None = None,
                 liquid: bool = False) -> float:
    """IT power of the replica (and of a draft on its own units) with no work."""
    return _draw(dep, spec, 0.0, 0.0, 0.0, cap_w, liquid)


def peak_power_w(dep: Deployment, spec: SpecDecode | None = None, cap_w: float | None = None,
                 liquid: bool = False) -> float:
    """IT power of the replica (and of a draft on its own units) flat out."""
    return _draw(dep, spec, 1.0, 1.0, 1.0 if spec is not None and draft_has_own_units(dep) else 0.0, cap_w, liquid)


def power_at_rate(dep: Deployment, output_tok_s: float, isl: float, osl: float, spec: SpecDecode | None = None,
                  cap_w: float | None = None, liquid: bool = False) -> PowerPoint:
    """IT power of one replica serving ``output_tok_s`` (capped at what its largest batch reaches).

    Throughput and activity are taken on the steady-state batch grid; both are made non-decreasing in batch
    (a running maximum: a scheduler never has to run a batch that does more work per second for less), and
    the rate is placed between the two batches that bracket it.
    """
    if output_tok_s <= 0:
        return PowerPoint(idle_power_w(dep, spec, cap_w, liquid), 0, 0.0, 0.0)
    grid = _batch_grid(max(1, max_batch(dep, isl, osl, spec)))
    rates: list[float] = []
    acts: list[float] = []
    dacts: list[float] = []
    for b in grid:
        t, a, d = _per_token(dep, spec, b, isl, osl)
        rates.append(max(b / t, rates[-1] if rates else 0.0))
        acts.append(max(a, acts[-1] if acts else 0.0))
        dacts.append(max(d, dacts[-1] if dacts else 0.0))
    if output_tok_s <= rates[0]:  # below batch 1's rate: steps part of the time
        busy = output_tok_s / rates[0]
        return PowerPoint(_draw(dep, spec, busy, acts[0], dacts[0], cap_w, liquid), 1, busy, acts[0], dacts[0],
                          output_tok_s)
    if output_tok_s >= rates[-1]:  # more than the replica carries: flat out at its largest batch
        return PowerPoint(_draw(dep, spec, 1.0, acts[-1], dacts[-1], cap_w, liquid), grid[-1], 1.0, acts[-1],
                          dacts[-1], rates[-1])
    i = next(k for k in range(1, len(grid)) if rates[k] >= output_tok_s)
    # Little's law: a fractional batch between grid[i-1] and grid[i], stepping all the time
    w = (output_tok_s - rates[i - 1]) / (rates[i] - rates[i - 1]) if rates[i] > rates[i - 1] else 1.0
    act = acts[i - 1] + w * (acts[i] - acts[i - 1])
    dact = dacts[i - 1] + w * (dacts[i] - dacts[i - 1])
    batch = round(grid[i - 1] + w * (grid[i] - grid[i - 1]))
    return PowerPoint(_draw(dep, spec, 1.0, act, dact, cap_w, liquid), batch, 1.0, act, dact, output_tok_s)


def operating_power_w(dep: Deployment, op: Operating, isl: float, osl: float,
                      spec: SpecDecode | None = None) -> float:
    """IT power of a replica running at an operating point of :mod:`tokenfleet.perf.steady`."""
    if op.step_s <= 0 or op.batch <= 0:
        return idle_power_w(dep, spec)
    busy = min(1.0, op.request_rate / max(op.batch / (op.step_s * osl), 1e-12))
    _, act, dact = _per_token(dep, spec, op.batch, isl, osl)
    return _draw(dep, spec, busy, act, dact, None, False)


def joules_per_output_token(dep: Deployment, op: Operating, isl: float, osl: float,
                            pue: float = DEFAULT_PUE, spec: SpecDecode | None = None) -> float:
    """Facility energy per output token at an operating point."""
    if op.output_tok_s <= 0:
        return float("inf")
    return facility_w(operating_power_w(dep, op, isl, osl, spec), pue) / op.output_tok_s
