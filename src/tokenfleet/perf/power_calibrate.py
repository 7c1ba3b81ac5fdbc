"""Fit the power model's few parameters per device family on measured wall power, and predict a power row.

A row of ``published_power.csv`` is a whole node: ``num_chips`` accelerators running one model (the layout a
submitter would pick: the one with the most offline throughput whose chip count divides ``num_chips``,
replicated) at the published output tokens/s, under the published power cap (``tdp_setting_w``), or idle.
Each replica's activity at that rate comes from the performance model (:func:`tokenfleet.perf.power.
power_at_rate`) and does not depend on the power parameters, so the fit is a small least-squares problem
on ``log(predicted / measured)`` (soft-L1, physical bounds, :data:`tokenfleet.perf.power_model.BOUNDS`).
Parameters a family's rows cannot identify keep their physical default: ``fan_frac`` needs liquid-cooled
rows, ``idle_frac`` idle rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import least_squares

from tokenfleet import catalog
from tokenfleet.errors import TokenfleetError
from tokenfleet.perf import power_model, steady
from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.layout import candidate_layouts
from tokenfleet.perf.power import PowerPoint, power_at_rate
from tokenfleet.perf.power_data import PowerRow
from tokenfleet.perf.power_model import PowerParams


@dataclass(frozen=True, slots=True)
class RowLoad:
    """What the performance model says one power row's node was doing."""

    replicas: int
    chips_per_replica: int
    layout: str
    point: PowerPoint | None  # per replica at the published rate (None for idle rows)
    model_tok_s: float | None = None  # the model's own offline throughput of the node (offline rows)
    model_point: PowerPoint | None = None  # per replica at that throughput
    skipped: str = ""


def row_load(row: PowerRow) -> RowLoad:
    """Layout, replicas and activity of a power row (an idle row needs no model)."""
    if row.scenario == "idle" or row.model_id is None or row.workload_id is None:
        return RowLoad(1, row.num_chips, "idle", None)
    model, hw = catalog.model(row.model_id), catalog.hardware(row.hw_id)
    wl = catalog.workload(row.workload_id)
    isl, osl = wl.input_tokens_mean, wl.output_tokens_mean
    precision = row.precision or hw.default_precision
    best: tuple[float, Deployment] | None = None
    try:
        for lay in candidate_layouts(model, hw, precision, max_chips=row.num_chips):
            if row.num_chips % lay.num_chips:
                continue
            dep = Deployment(model, hw, lay)
            tput = steady.offline(dep, isl, osl).output_tok_s * (row.num_chips // lay.num_chips)
            if best is None or tput > best[0]:
                best = (tput, dep)
    except TokenfleetError as exc:
        return RowLoad(1, row.num_chips, "", None, skipped=str(exc))
    if best is None:
        return RowLoad(1, row.num_chips, "", None, skipped=f"no layout of {row.model_id} in {precision} fits "
                       f"{row.num_chips} {row.hw_id}")
    tput, dep = best
    n = row.num_chips // dep.num_chips
    rate = (row.throughput_tok_s or 0.0) / n
    point = power_at_rate(dep, rate, isl, osl, cap_w=row.tdp_setting_w, liquid=row.liquid)
    model_point = None
    if row.scenario == "offline":
        model_point = power_at_rate(dep, tput / n, isl, osl, cap_w=row.tdp_setting_w, liquid=row.liquid)
    return RowLoad(n, dep.num_chips, f"{n}x({dep.layout.describe()}) B={point.batch}", point,
                   tput if row.scenario == "offline" else None, model_point)


def predict_power_w(row: PowerRow, load: RowLoad, params: PowerParams | None = None,
                    at_model_rate: bool = False) -> float:
    """Wall power of the row's node under ``params`` (default: the family's stored fit)."""
    hw = catalog.hardware(row.hw_id)
    point = load.model_point if at_model_rate else load.point
    if point is None:
        return power_model.idle_w(hw, row.num_chips, row.tdp_setting_w, row.liquid, params)
    a = point.busy * point.activity
    return load.replicas * power_model.draw_w(hw, load.chips_per_replica, a, row.tdp_setting_w, row.liquid, params)


@dataclass(frozen=True, slots=True)
class FamilyFit:
    family: str
    params: dict[str, float]  # the fitted ones
    rows: list[int]
    labels: list[str]
    median_abs_pct_error: float
    max_abs_pct_error: float
    host_frac: float | None = None  # host_w / median nameplate host share of the fitted systems


def _identifiable(rows: list[PowerRow]) -> list[str]:
    names = ["loss_frac", "host_w"]
    if any(r.scenario == "idle" for r in rows):
        names.insert(0, "idle_frac")
    if any(r.liquid for r in rows) and any(not r.liquid for r in rows):
        names.append("fan_frac")
    return names


def fit_family(family: str, rows: list[PowerRow], loads: list[RowLoad]) -> FamilyFit:
    names = _identifiable(rows)
    base = power_model.FAMILY_DEFAULTS.get(family, PowerParams())
    lo = np.array([power_model.BOUNDS[n][0] for n in names])
    hi = np.array([power_model.BOUNDS[n][1] for n in names])
    start = base.replace(host_w=base.host_w if base.host_w is not None else 200.0)
    x0 = np.clip(np.array([getattr(start, n) for n in names]), lo, hi)
    scale = np.where(hi > 1.0, hi, 1.0)

    def at(x: np.ndarray) -> PowerParams:
        return base.replace(**{n: float(v) for n, v in zip(names, x * scale, strict=True)})

    # replicate runs of one configuration (MLPerf ranging runs, the 99 / 99.9 accuracy targets) count once
    kind = [(r.hw_id, r.num_chips, r.model_id, r.precision, r.scenario, r.tdp_setting_w, r.liquid) for r in rows]
    weight = np.array([1.0 / kind.count(k) for k in kind])

    def log_ratio(x: np.ndarray) -> np.ndarray:
        p = at(x)
        return np.array([math.log(predict_power_w(r, ld, p) / r.system_power_w) for r, ld in zip(rows, loads,
                                                                                                   strict=True)])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.sqrt(weight) * log_ratio(x)

    sol = least_squares(residuals, x0 / scale, bounds=(lo / scale, hi / scale), loss="soft_l1", f_scale=0.05)
    errs = np.abs(np.expm1(log_ratio(sol.x))) * 100
    fitted = {n: float(v) for n, v in zip(names, sol.x * scale, strict=True)}
    # what the measured host draw is of the nameplate host share, for families without measurements
    shares = [catalog.hardware(r.hw_id).host_power_w_per_chip for r in rows]
    host_frac = fitted["host_w"] / float(np.median(shares)) if min(shares) > 0 else None
    return FamilyFit(family, fitted, [r.row for r in rows], [r.label() for r in rows], float(np.median(errs)),
                     float(errs.max()), host_frac)


def fit_power(rows: list[PowerRow]) -> list[FamilyFit]:
    """One fit per device family with rows (rows the performance model cannot place are left out)."""
    groups: dict[str, tuple[list[PowerRow], list[RowLoad]]] = {}
    for r in rows:
        load = row_load(r)
        if load.skipped:
            continue
        fam = catalog.hardware(r.hw_id).family
        groups.setdefault(fam, ([], []))
        groups[fam][0].append(r)
        groups[fam][1].append(load)
    return [fit_family(f, rs, ls) for f, (rs, ls) in sorted(groups.items())]


def write_power_calibration(fits: list[FamilyFit], source: str | Path, out: str | Path) -> None:
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    doc: dict[str, Any] = {
        "fitted_on": dt.date.today().isoformat(),
        "source_sha256": digest,
        "method": "scipy.optimize.least_squares, soft-L1 loss on log(predicted/measured wall power), physical "
                  "bounds; activity of each row from the performance model at the published throughput",
        "formula": "P = n x [(1 + loss_frac) x (idle_frac x TDP + a x (min(cap, TDP) - idle_frac x TDP)) + host_w "
                   "x (1 - fan_frac if liquid-cooled)]; host_frac = host_w / nameplate host share (families "
                   "without measurements)",
        "families": {f.family: {"params": {k: round(v, 5) for k, v in f.params.items()},
                                "source": "shared/data/benchmarks/published_power.csv rows "
                                          + ", ".join(map(str, f.rows)),
                                **({"host_frac": round(f.host_frac, 4)} if f.host_frac else {}),
                                "labels": f.labels, "median_abs_pct_error": round(f.median_abs_pct_error, 2),
                                "max_abs_pct_error": round(f.max_abs_pct_error, 2)} for f in fits},
    }
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
