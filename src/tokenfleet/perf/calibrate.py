"""Fit a few physically meaningful efficiency parameters per hardware generation or vendor serving stack.

Calibration keys are the hardware entries' ``calibration_group`` (one per architecture generation:
``nvidia-hopper``, ``nvidia-blackwell``, ``amd-cdna3``, ``groq``…) or, where a vendor's serving software
changed its speed, ``group@stack`` (``cerebras@2024-08``, ``cerebras@2024-10``; :mod:`tokenfleet.perf.stacks`).
Each key fits only what its device family declares (``DeviceFamily.fit_params``) and its rows can identify:

* HBM: achieved fraction of peak in large GEMMs (``flops_eff``), the GEMM rows at half of it
  (``gemm_m_half``), the per-step and per-sequence overheads, a software-gain rate (rows from 3+ dates);
  where MoE rows of 2+ models exist, the FLOP-equivalent overhead of each routed (token, expert) pair
  (``expert_pair_flops``), the experts' padding (``expert_m_half``, at most 8 rows) and a MoE software-gain
  rate (the experts' GEMMs run at the dense kernels' rate). The per-step overhead is profiled on all of a
  key's rows where it has MoE rows (``_fit_key``). HBM bandwidth stays at a physical 80 %,
  collectives at their physical latency.
* wafer: the fixed per-layer latency of the software (``layer_latency_s``) and the per-core SRAM streaming
  efficiency (``bw_eff``); the mesh and the system-to-system hop are physical, not fitted.
* LPU: per-layer latency and chip-to-chip hop. Three-tier (SN40L): per-layer latency and HBM efficiency.
* Dataflow keys with TTFT rows: the per-request API overhead.
* Serving engines of HBM rows (:func:`stacks.engine_of`: vLLM, SGLang, JetStream against the reference
  TensorRT-LLM): one speed factor per engine, shared by every hardware generation (``engine:<name>``). It is
  the shrunk median misfit of the engine's rows under the per-key fits, taken from generations that also ran
  the reference (there the reference rows set the physics); keys whose rows all ran other engines are then
  refitted with it, so a generation's fit keeps its own physics and the engine carries its software.

A key with dense and MoE rows is fitted in two stages: its dense parameters on its dense rows, then the
MoE parameters (``MOE_PARAMS``) on its MoE rows with those fixed, so a MoE layer's extra costs cannot bend
the physics every model uses. The throughput of the official Offline runs of ``published_power.csv``
(:mod:`power_runs`) is calibration data too, at the power cap they ran under; a row's own published
configuration (TP, batch cap, power cap: :mod:`published`) is predicted as run.

The objective is the log ratio predicted / published per row (a robust soft-L1 loss, so one outlier does not
drag a group), plus a weak prior pulling each parameter towards its family's physical default, solved with
``scipy.optimize.least_squares`` in log space inside physical bounds. A group with no rows of its own takes
the same vendor's fitted generation, else ``family:<family>``: the per-parameter median of the family's fits.

API (stable; ``tokenfleet validate --cv`` uses it): :func:`fit` rows -> :class:`Calibration`;
:func:`predict_row`; :func:`cross_validate` (leave-one-(hardware, model)-group-out); :func:`report_family`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import least_squares

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec
from tokenfleet.errors import TokenfleetError
from tokenfleet.perf import stacks
from tokenfleet.perf.devices.base import DeviceFamily
from tokenfleet.perf.params import FAMILY_DEFAULTS, EfficiencyParams, resolve
from tokenfleet.perf.predict import Prediction, not_a_check, predict, row_calibration_key, row_engine
from tokenfleet.perf.results import PublishedResult, read_results

__all__ = ["BOUNDS", "Calibration", "GroupFit", "calibrate", "cross_validate", "fit", "fittable",
           "packaged_calibration", "predict_row", "report_family", "write_calibration"]

# name -> (lower, upper) physical bounds
BOUNDS: dict[str, tuple[float, float]] = {
    "flops_eff": (0.20, 0.90),
    "bw_eff": (0.05, 0.92),
    "step_overhead_s": (1e-3, 8e-3),
    "gemm_m_half": (4.0, 256.0),
    # a decode-time grouped GEMM puts an expert's few tokens on the MMA's N side (swap-AB small-M kernels in
    # TensorRT-LLM / CUTLASS / Triton MoE), padded to its 8-row granularity, not to a 64-128-row M tile
    "expert_m_half": (1.0, 8.0),
    "expert_eff": (0.02, 1.0),
    "expert_pair_flops": (1e6, 2e9),
    "seq_overhead_s": (1e-8, 2e-5),
    "layer_latency_s": (5e-7, 3e-4),
    "collective_latency_s": (1e-6, 2e-4),
    "hop_latency_s": (1e-7, 2e-5),
    "token_loop_s": (1e-5, 3e-3),
    "request_overhead_s": (0.0, 1.0),
    "software_gain_per_year": (0.0, 1.0),  # software does not get slower
    "moe_software_gain_per_year": (0.0, 1.0),
    "speed": (0.25, 1.25),  # a serving engine against the reference (ENGINE_BOUNDS)
}
LINEAR = {"software_gain_per_year", "moe_software_gain_per_year"}  # fitted as is (may be 0), not in log space
# every fitted parameter is pulled towards its family's physical default (log space): a factor of
# PRIOR_FACTOR away from it costs as much as one row PRIOR_ROW (in log ratio) off, so a group with few rows
# cannot wander to a bound to absorb software scatter. Chosen by leave-one-group-out CV on the calibration
# file (benchmarks/perf_accuracy.py --cv): 0.04 gave CV median 18.4 % / p90 58 %, 0.08 19.1 / 58, 0.2
# 20.0 / 63, 0.5 19.3 / 71 (a stronger pull keeps each generation too close to the defaults)
PRIOR_FACTOR = 3.0
PRIOR_ROW = 0.04
# an engine's speed: exp(-median log misfit of its rows x n / (n + ENGINE_PRIOR_ROWS)), inside ENGINE_BOUNDS
ENGINE_PRIOR_ROWS = 1.0
ENGINE_BOUNDS = BOUNDS["speed"]
ENGINE_REUSE_TOL = 0.02  # CV: other keys keep their engine refits while no engine speed moves more than this
HBM_FIT = ("flops_eff", "step_overhead_s", "gemm_m_half", "expert_m_half", "seq_overhead_s")  # kept for callers


@dataclasses.dataclass(frozen=True, slots=True)
class GroupFit:
    key: str  # calibration group, "group@stack", or "family:<family>"
    params: dict[str, float]
    rows: list[int]
    labels: list[str]
    median_abs_pct_error: float


@dataclasses.dataclass(frozen=True, slots=True)
class Calibration:
    """Fitted parameters of every calibration key, with the family fallbacks (:func:`params.resolve`)."""

    fits: tuple[GroupFit, ...]

    def groups(self) -> dict[str, dict[str, float]]:
        return {f.key: f.params for f in self.fits}

    def engine_speeds(self) -> dict[str, float]:
        return {f.key.removeprefix("engine:"): f.params["speed"] for f in self.fits if f.key.startswith("engine:")}

    def speed_for_row(self, row: PublishedResult) -> float:
        return _speed(row, self.engine_speeds())

    def params_for(self, hw: HardwareSpec, date: str = "") -> EfficiencyParams:
        return resolve(self.groups(), stacks.calibration_key(hw.calibration_group, date), hw.family)

    def params_for_row(self, row: PublishedResult) -> EfficiencyParams:
        hw = catalog.hardware(row.hw_id)
        return resolve(self.groups(), row_calibration_key(row), hw.family)


def _names(family: str, rows: list[PublishedResult]) -> list[str]:
    names = list(device_for_family(family).fit_params)
    if len({r.model_id for r in rows if catalog.model(r.model_id).is_moe}) < MIN_MOE_MODELS:
        # only MoE rows can tell them, and rows of one model alone would take its quirks for the generation's
        names = [n for n in names if n not in MOE_PARAMS]
    from tokenfleet.perf.params import years_from_reference
    if len({round(years_from_reference(r.date), 2) for r in rows}) < 3:
        names = [n for n in names if n not in LINEAR]  # a software gain needs rows from 3+ dates to tell it
    if family != "hbm" and any(r.metric == "ttft_ms" for r in rows):
        names.append("request_overhead_s")
    return names


def device_for_family(family: str) -> DeviceFamily:
    from tokenfleet.perf.devices import REGISTRY
    return REGISTRY[family]


def _speed(row: PublishedResult, speeds: dict[str, float] | None) -> float:
    engine = row_engine(row)
    return (speeds or {}).get(engine, 1.0) if engine else 1.0


MIN_MOE_MODELS = 2  # MoE models a key needs before its own MoE parameters are fitted
# values at which a key with dense and MoE rows profiles its engine's per-iteration overhead (_fit_key): from a
# CUDA-graph decode step (~1 ms) to eager launches (several ms)
PROFILED: dict[str, tuple[float, ...]] = {"step_overhead_s": (1.0e-3, 1.5e-3, 2.5e-3, 4.0e-3)}
LOSS_SCALE = 0.2  # soft-L1 scale of a fit's log misses (about a 20 % miss)
MOE_PARAMS = ("expert_m_half", "expert_pair_flops", "moe_software_gain_per_year")


def _is_moe(r: PublishedResult) -> bool:
    return catalog.model(r.model_id).is_moe


def _fit_key(key: str, family: str, rows: list[PublishedResult], start: EfficiencyParams | None = None,
             speeds: dict[str, float] | None = None) -> GroupFit:
    """Fit one key in two stages where it has dense and MoE rows: the dense kernels' parameters on its dense
    rows, then, with those fixed, the routed experts' own (``MOE_PARAMS``) on its MoE rows. A MoE layer's
    extra costs (grouped-GEMM fill, routing, imbalance) then cannot bend the dense physics every model uses,
    and a left-out MoE group moves only the expert parameters.

    The engine's per-iteration overhead is the exception: dense throughput rows barely tell it (their cost
    is flat in it within the solver's noise), while a MoE model's small-batch rows do. It is profiled over
    ``PROFILED`` values, each with both stages refitted, and the value whose fit misses the key's rows least
    (the fit's own loss) is kept, or the free fit where that misses less; rows no candidate predicts within
    ``OUTLIER_FACTOR`` are left out of that choice."""
    dense = [r for r in rows if not _is_moe(r)]
    moe = [r for r in rows if _is_moe(r)]
    if not dense or not moe or not set(MOE_PARAMS) & set(device_for_family(family).fit_params):
        return _fit(key, family, rows, start, speeds=speeds)
    base = start or FAMILY_DEFAULTS[family]
    candidates = [two_stage(key, family, rows, base, speeds=speeds)]
    for name, values in PROFILED.items():
        if name in candidates[0]:
            candidates += [two_stage(key, family, rows, base.replace(**{name: v}), (name,), speeds) for v in values]
    params = candidates[profile_choice(family, rows, candidates, speeds)]
    p = FAMILY_DEFAULTS[family].replace(**params)
    errs = [abs(e) for e in (_pct(r, p, speeds) for r in rows) if e is not None]
    return GroupFit(key, params, [r.row for r in rows], [r.label() for r in rows],
                    float(np.median(errs)) if errs else float("nan"))


def two_stage(key: str, family: str, rows: list[PublishedResult], at: EfficiencyParams, fixed: tuple[str, ...] = (),
              speeds: dict[str, float] | None = None) -> dict[str, float]:
    """The dense rows' fit (``fixed`` parameters held at ``at``'s values), then the MoE rows' ``MOE_PARAMS``."""
    dense = [r for r in rows if not _is_moe(r)]
    moe = [r for r in rows if _is_moe(r)]
    first = _fit(key, family, dense, at, speeds=speeds, exclude=MOE_PARAMS + fixed)
    second = _fit(key, family, moe, at.replace(**first.params), speeds=speeds, only=MOE_PARAMS)
    return {**first.params, **second.params, **{n: float(getattr(at, n)) for n in fixed}}


# a row that no profiled candidate predicts within this factor (an outlier of the file, e.g. a submission 5x
# below its peers) is left out of the choice between candidates: it cannot tell them apart, only pull
OUTLIER_FACTOR = 2.0


def _misses(rows: list[PublishedResult], p: EfficiencyParams, speeds: dict[str, float] | None) -> list[float]:
    """Log of predicted over published, per row (0 where the row cannot be predicted)."""
    out = []
    for r in rows:
        pred = predict(r, p, _speed(r, speeds)).predicted
        out.append(math.log(max(pred, 1e-9) / r.value) if pred is not None else 0.0)
    return out


def _soft_l1(miss: float) -> float:
    """The fit's robust loss of one log miss (soft-L1 at ``LOSS_SCALE``, as ``least_squares``)."""
    return 2.0 * (math.sqrt(1.0 + (miss / LOSS_SCALE) ** 2) - 1.0)


def profile_choice(family: str, rows: list[PublishedResult], candidates: list[dict[str, float]],
                   speeds: dict[str, float] | None = None) -> int:
    """Index of the candidate fit whose soft-L1 loss over ``rows`` is least, rows that no candidate predicts
    within ``OUTLIER_FACTOR`` left out."""
    misses = [_misses(rows, FAMILY_DEFAULTS[family].replace(**c), speeds) for c in candidates]
    keep = [i for i in range(len(rows)) if min(abs(m[i]) for m in misses) <= math.log(OUTLIER_FACTOR)]
    return min(range(len(candidates)), key=lambda k: sum(_soft_l1(misses[k][i]) for i in keep))


def _pct(r: PublishedResult, p: EfficiencyParams, speeds: dict[str, float] | None) -> float | None:
    pred = predict(r, p, _speed(r, speeds)).predicted
    return None if pred is None else 100.0 * (pred - r.value) / r.value


def _fit(key: str, family: str, rows: list[PublishedResult], start: EfficiencyParams | None = None,
         max_nfev: int = 200, speeds: dict[str, float] | None = None, exclude: tuple[str, ...] = (),
         only: tuple[str, ...] | None = None) -> GroupFit:
    names = [n for n in _names(family, rows) if n not in exclude and (only is None or n in only)]
    base = start or FAMILY_DEFAULTS[family]
    lin = np.array([n in LINEAR for n in names])
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    x0 = np.clip(np.array([getattr(base, n) for n in names]), lo, hi)
    # optimise in log space (every parameter is positive and spans decades) except the linear ones

    def to_x(v: np.ndarray) -> np.ndarray:
        return np.where(lin, v, np.log(np.maximum(v, 1e-12)))

    llo, lhi = to_x(lo), to_x(hi)

    def params_at(x: np.ndarray) -> EfficiencyParams:
        return base.replace(**{n: float(v if n in LINEAR else math.exp(v)) for n, v in zip(names, x, strict=True)})

    prior = np.clip(to_x(np.array([getattr(FAMILY_DEFAULTS[family], n) for n in names])), llo, lhi)
    prior_scale = np.where(lin, 0.3, math.log(PRIOR_FACTOR))  # software gain: 30 %/year ~ one row 20 % off

    def row_residuals(x: np.ndarray) -> list[float]:
        p = params_at(x)
        out = []
        for r in rows:
            pred = predict(r, p, _speed(r, speeds)).predicted
            out.append(math.log(max(pred, 1e-9) / r.value) if pred is not None else 0.0)
        return out

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.array(row_residuals(x) + list(PRIOR_ROW * (x - prior) / prior_scale))

    x_start = np.clip(to_x(x0), llo + 1e-9, lhi - 1e-9)
    sol = least_squares(residuals, x_start, bounds=(llo, lhi), loss="soft_l1", f_scale=LOSS_SCALE, diff_step=1e-2,
                        max_nfev=max_nfev, xtol=1e-4, ftol=1e-4)
    final = params_at(sol.x)
    errs = [abs(math.expm1(v)) * 100 for v in row_residuals(sol.x)]
    return GroupFit(key, {n: float(getattr(final, n)) for n in names}, [r.row for r in rows],
                    [r.label() for r in rows], float(np.median(errs)) if errs else float("nan"))


def fittable(results: list[PublishedResult]) -> list[PublishedResult]:
    """Rows the model can predict (known ids, supported metric, a layout that fits)."""
    out = []
    for r in results:
        try:
            if predict(r, _defaults_for(r), 1.0).predicted is not None:
                out.append(r)
        except TokenfleetError:
            continue
    return out


def _defaults_for(r: PublishedResult) -> EfficiencyParams:
    return FAMILY_DEFAULTS[catalog.hardware(r.hw_id).family]


def _group_rows(rows: list[PublishedResult]) -> dict[tuple[str, str], list[PublishedResult]]:
    groups: dict[tuple[str, str], list[PublishedResult]] = {}
    for r in rows:
        groups.setdefault((row_calibration_key(r), catalog.hardware(r.hw_id).family), []).append(r)
    return groups


def _with_family_medians(fits: list[GroupFit], families: dict[str, str]) -> list[GroupFit]:
    """Add ``family:<family>`` (per-parameter medians of the family's fits) and give each group the family's
    value of any parameter its own rows could not identify."""
    fits = [f for f in fits if not f.key.startswith(("family:", "engine:"))]
    out = list(fits)
    for family in sorted(set(families.values())):
        members = [f for f in fits if families[f.key] == family]
        if not members:
            continue
        names = {n for m in members for n in m.params}
        med = {n: float(np.median([m.params[n] for m in members if n in m.params])) for n in sorted(names)}
        for i, f in enumerate(out):
            if f in members and set(med) - set(f.params):
                out[i] = dataclasses.replace(f, params={**f.params, **{n: v for n, v in med.items()
                                                                      if n not in f.params}})
        out.append(GroupFit(f"family:{family}", med, sorted(r for m in members for r in m.rows),
                            [f"median of {', '.join(m.key for m in members)}"],
                            float(np.median([m.median_abs_pct_error for m in members]))))
    return out


def _engine_speeds(raw: dict[str, GroupFit], families: dict[str, str],
                   rows: list[PublishedResult]) -> dict[str, float]:
    """Speed of each non-reference engine with rows: the shrunk median misfit of its rows under the raw per-key
    fits, each row predicted at the reference engine's speed; rows of generations that also ran the reference
    engine identify it where there are any (MLPerf H100 / H200 / B200 under TensorRT-LLM and vLLM / llm-d)."""
    cal = Calibration(tuple(_with_family_medians(list(raw.values()), families)))
    # a key with reference-engine rows has its physics set by them: there an engine's rows show its own speed
    # (a key that ran only other engines absorbed theirs into its fit, so it counts only for an engine seen
    # nowhere else)
    anchored = {row_calibration_key(r) for r in rows if row_engine(r) == stacks.REFERENCE_ENGINE}
    misfit: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        engine = row_engine(r)
        if not engine or engine == stacks.REFERENCE_ENGINE:
            continue
        pred = predict(r, cal.params_for_row(r), 1.0).predicted
        if pred is not None and pred > 0:
            within, other = misfit.setdefault(engine, ([], []))
            miss = math.log(pred / r.value) * (-1.0 if r.metric == "ttft_ms" else 1.0)
            (within if row_calibration_key(r) in anchored else other).append(miss)
    lo, hi = ENGINE_BOUNDS
    out: dict[str, float] = {}
    for e, (within, other) in sorted(misfit.items()):
        v = within or other
        out[e] = float(np.clip(math.exp(-float(np.median(v)) * len(v) / (len(v) + ENGINE_PRIOR_ROWS)), lo, hi))
    return out


def _engine_fits(speeds: dict[str, float], rows: list[PublishedResult]) -> list[GroupFit]:
    out = []
    for e, v in speeds.items():
        mine = [r for r in rows if row_engine(r) == e]
        out.append(GroupFit(f"engine:{e}", {"speed": v}, [r.row for r in mine], [r.label() for r in mine],
                            float("nan")))
    return out


def _has_engine_rows(grp: list[PublishedResult], speeds: dict[str, float]) -> bool:
    """A key whose rows all ran non-reference engines: its raw fit carries their software, so it is refitted
    with their speeds. A key with reference rows keeps its raw fit (its physics is what those rows say)."""
    return bool(grp) and all(row_engine(r) in speeds for r in grp)


def _refit_with_engines(raw: dict[str, GroupFit], by_key: dict[tuple[str, str], list[PublishedResult]],
                        speeds: dict[str, float]) -> dict[str, GroupFit]:
    """Refit (warm-started from the raw fit) every key whose rows all ran non-reference engines."""
    out = dict(raw)
    for (key, family), grp in sorted(by_key.items()):
        if key in raw and _has_engine_rows(grp, speeds):
            out[key] = _fit_key(key, family, grp, FAMILY_DEFAULTS[family].replace(**raw[key].params), speeds=speeds)
    return out


def _calibration(fits: dict[str, GroupFit], families: dict[str, str], speeds: dict[str, float],
                 rows: list[PublishedResult]) -> Calibration:
    return Calibration(tuple(_with_family_medians(list(fits.values()), families) + _engine_fits(speeds, rows)))


def fit(rows: list[PublishedResult], progress: Callable[[str], None] | None = None) -> Calibration:
    """Fit every calibration key (hardware generation, or vendor serving stack) that has predictable rows;
    family medians for the rest; one speed per serving engine. Pure: no I/O."""
    rows = fittable(rows)
    by_key = _group_rows(rows)
    families = {k: fam for (k, fam) in by_key}
    raw = {}
    for (key, family), grp in sorted(by_key.items()):
        if progress:
            progress(f"fitting {key} on {len(grp)} rows")
        raw[key] = _fit_key(key, family, grp)
    speeds = _engine_speeds(raw, families, rows)
    if progress and speeds:
        progress("engine speeds " + ", ".join(f"{e} {v:.2f}" for e, v in speeds.items()) + "; refitting their keys")
    cal = _calibration(_refit_with_engines(raw, by_key, speeds), families, speeds, rows)
    out = []
    for f in cal.fits:  # an engine's figure: the median |error| of its rows under the final calibration
        if f.key.startswith("engine:"):
            mine = [r for r in rows if r.row in set(f.rows)]
            errs = [abs(p.pct_error) for p in (predict_row(r, cal) for r in mine) if p.pct_error is not None]
            f = dataclasses.replace(f, median_abs_pct_error=float(np.median(errs)) if errs else float("nan"))
        out.append(f)
    return Calibration(tuple(out))


def calibrate(path: str | Path, progress: Callable[[str], None] | None = None) -> list[GroupFit]:
    """Read a results CSV and fit it with the power runs' throughputs (the ``tokenfleet calibrate`` command)."""
    from tokenfleet.perf.power_runs import power_throughput_rows
    rows = read_results(path)
    return list(fit(rows + power_throughput_rows(rows), progress).fits)


_PACKAGED: list[Calibration] = []


def packaged_calibration() -> Calibration:
    """The calibration stored in the package's ``data/calibration.yaml``."""
    if not _PACKAGED:
        from tokenfleet.perf.params import _stored
        groups = _stored().get("groups", {})
        _PACKAGED.append(Calibration(tuple(
            GroupFit(k, dict(v["params"]), list(v.get("rows", [])), list(v.get("labels", [])),
                     float(v.get("median_abs_pct_error", float("nan")))) for k, v in groups.items())))
    return _PACKAGED[0]


def predict_row(row: PublishedResult, calibration: Calibration | None = None) -> Prediction:
    """Predict one row with a calibration (default: the packaged one)."""
    if calibration is None or not_a_check(row):
        return predict(row)
    try:
        params = calibration.params_for_row(row)
    except TokenfleetError as exc:
        return Prediction(row, None, skipped=str(exc))
    return predict(row, params, calibration.speed_for_row(row))


def cross_validate(rows: list[PublishedResult], progress: Callable[[str], None] | None = None,
                   extra: list[PublishedResult] | None = None) -> list[Prediction]:
    """Leave-one-(hw_id, model_id)-group-out: each row predicted by a fit that never saw its group.

    Only the calibration keys holding the left-out rows are refitted (no other key's fit saw them), then the
    family medians are recomputed; a key left with no rows falls back as an unfitted group would. ``extra``
    rows (the power runs' throughputs, :mod:`power_runs`) train the fits and are left out with their group,
    but are not predicted.
    """
    extra = list(extra or [])
    usable = fittable(rows + extra)
    by_key = _group_rows(usable)
    families = {k: fam for (k, fam) in by_key}
    # the raw per-key fits (before family medians fill what a key could not identify: that fill is redone
    # per left-out group, so no median carries the left-out rows)
    base_fits = {key: _fit_key(key, family, grp) for (key, family), grp in sorted(by_key.items())}
    speeds = _engine_speeds(base_fits, families, usable)
    engine_fits = _refit_with_engines(base_fits, by_key, speeds)
    holdouts: dict[tuple[str, str], list[PublishedResult]] = {}
    for r in rows:
        holdouts.setdefault((r.hw_id, r.model_id), []).append(r)
    out: dict[int, Prediction] = {}
    for i, ((hw_id, model_id), held) in enumerate(sorted(holdouts.items())):
        if progress:
            progress(f"[{i + 1}/{len(holdouts)}] leaving out {hw_id} x {model_id} ({len(held)} rows)")
        held_ids = {id(r) for r in held} | {id(r) for r in extra if (r.hw_id, r.model_id) == (hw_id, model_id)}
        fits = dict(base_fits)
        rest_by_key = dict(by_key)
        for (key, family), grp in by_key.items():
            if not any(id(r) in held_ids for r in grp):
                continue
            rest = [r for r in grp if id(r) not in held_ids]
            rest_by_key[(key, family)] = rest
            if rest:
                fits[key] = _fit_key(key, family, rest)  # from the same start as fit(): CV == fit(rest)
            else:
                fits.pop(key, None)
                rest_by_key.pop((key, family))
        rest_rows = [r for r in usable if id(r) not in held_ids]
        speeds_h = _engine_speeds(fits, families, rest_rows)
        if set(speeds_h) == set(speeds) and all(abs(speeds_h[e] / speeds[e] - 1) < ENGINE_REUSE_TOL for e in speeds):
            # the engine speeds barely moved: keys the held rows are not in keep their engine refits
            final = {k: (engine_fits[k] if k in engine_fits and fits[k] is base_fits[k] else f)
                     for k, f in fits.items()}
            touched = {k for (k, _f), g in by_key.items() if any(id(r) in held_ids for r in g)}
            final.update(_refit_with_engines({k: fits[k] for k in touched if k in fits},
                                             {kf: g for kf, g in rest_by_key.items() if kf[0] in touched}, speeds_h))
        else:
            final = _refit_with_engines(fits, rest_by_key, speeds_h)
        cal = _calibration(final, families, speeds_h, rest_rows)
        for r in held:
            out[id(r)] = predict_row(r, cal)
    return [out[id(r)] for r in rows]


def report_family(row: PublishedResult) -> str:
    """Family a row is reported under: device family ("gpu" for HBM devices) and dense / moe."""
    hw, model = catalog.hardware(row.hw_id), catalog.model(row.model_id)
    fam = "gpu" if hw.family == "hbm" else hw.family
    return f"{fam}-{'moe' if model.is_moe else 'dense'}"


def write_calibration(fits: list[GroupFit], source: str | Path, out: str | Path) -> None:
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    doc: dict[str, Any] = {
        "fitted_on": dt.date.today().isoformat(),
        "source": "shared/data/benchmarks/published_results.csv",
        "source_sha256": digest,
        "method": "scipy.optimize.least_squares, soft-L1 loss on log(predicted/published), physical bounds, "
              "one fit per hardware generation or vendor serving stack (perf.stacks)",
        "groups": {f.key: {"params": f.params, "rows": f.rows, "labels": f.labels,
                           "median_abs_pct_error": round(f.median_abs_pct_error, 2)} for f in fits},
    }
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
