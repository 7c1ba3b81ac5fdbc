"""Predicted vs published, per row and summarised (the numbers ``tokenfleet validate`` prints).

Three checks share one JSON shape (``rows`` with ``published``, ``predicted`` and ``pct_error``; ``summary``
with the row counts and the median / p90 / max absolute error; ``families`` with the same summary per
report family):

* :func:`validate` — every row of a results CSV predicted with the stored calibration (in-sample);
* :func:`tokenfleet.perf.cv.cross_validate_file` — each (hardware, model) group predicted by a fit that
  never saw it;
* :func:`validate_power` — the wall power (and J per output token) of every row of a power CSV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tokenfleet import catalog
from tokenfleet.errors import TokenfleetError
from tokenfleet.perf.predict import Prediction, predict
from tokenfleet.perf.results import PublishedResult, read_results


def packaged_results_path() -> Path:
    """The copy of shared/data/benchmarks/published_results.csv shipped in the package."""
    return Path(str(resources.files("tokenfleet.perf").joinpath("data", "published_results.csv")))


@dataclass(frozen=True, slots=True)
class Summary:
    n_predicted: int
    n_skipped: int
    median_abs_pct_error: float | None
    p90_abs_pct_error: float | None
    max_abs_pct_error: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"n_predicted": self.n_predicted, "n_skipped": self.n_skipped,
                "median_abs_pct_error": self.median_abs_pct_error,
                "p90_abs_pct_error": self.p90_abs_pct_error, "max_abs_pct_error": self.max_abs_pct_error}

    def line(self) -> str:
        """``predicted 98, skipped 2; |error| median 9.0%, p90 24.2%, max 47.3%`` (or "no row predicted")."""
        head = f"predicted {self.n_predicted}, skipped {self.n_skipped}"
        if self.median_abs_pct_error is None:
            return f"{head}; no row predicted"
        return (f"{head}; |error| median {self.median_abs_pct_error:.1f}%, p90 {self.p90_abs_pct_error:.1f}%, "
                f"max {self.max_abs_pct_error:.1f}%")


def summary_of(errors: Sequence[float | None]) -> Summary:
    """Counts and percentiles of absolute errors; ``None`` entries are skipped rows. No row: None, not NaN."""
    errs = np.array([abs(e) for e in errors if e is not None and math.isfinite(e)])
    skipped = sum(1 for e in errors if e is None)
    if errs.size == 0:
        return Summary(0, skipped, None, None, None)
    return Summary(int(errs.size), skipped, float(np.median(errs)), float(np.percentile(errs, 90)),
                   float(errs.max()))


def _key(r: PublishedResult) -> tuple[Any, ...]:
    """What a prediction depends on (rows repeating it are predicted once): the notes and constraints too, which
    name the serving engine and the run's own TP, batch and power caps (perf.stacks, perf.published)."""
    return (r.hw_id, r.num_chips, r.model_id, r.precision, r.workload_id, r.metric, r.ttft_p99_ms, r.tpot_p99_ms,
            r.user_tok_s, r.spec_decode, r.date, r.notes, r.constraints)


def predict_all(results: list[PublishedResult]) -> list[Prediction]:
    """Predict every row; a row whose ids are unknown is skipped with the catalog's message."""
    out = []
    seen: dict[tuple[Any, ...], Prediction] = {}
    for res in results:
        key = _key(res)
        if key in seen:
            p = seen[key]
            out.append(Prediction(res, p.predicted, p.layout, p.skipped))
            continue
        try:
            pred = predict(res)
        except TokenfleetError as exc:
            pred = Prediction(res, None, skipped=str(exc))
        seen[key] = pred
        out.append(pred)
    return out


def summarise(preds: list[Prediction]) -> Summary:
    return summary_of([p.pct_error for p in preds])


def report_family(res: PublishedResult) -> str:
    """gpu-dense, gpu-moe, wafer-dense, lpu-moe... (the perf model's own grouping where it has one)."""
    from tokenfleet.perf import calibrate

    perf_family: Callable[[PublishedResult], str] | None = getattr(calibrate, "report_family", None)
    try:
        if perf_family is not None:
            return str(perf_family(res))
        hw, model = catalog.hardware(res.hw_id), catalog.model(res.model_id)
    except TokenfleetError:
        return "unknown"
    kind = {"hbm": "gpu"}.get(hw.family, hw.family)
    return f"{kind}-{'moe' if model.is_moe else 'dense'}"


def by_family(preds: list[Prediction], family: Callable[[PublishedResult], str] = report_family
              ) -> dict[str, Summary]:
    groups: dict[str, list[float | None]] = {}
    for p in preds:
        groups.setdefault(family(p.result), []).append(p.pct_error)
    return {k: summary_of(v) for k, v in sorted(groups.items())}


def validate(path: str | Path | None = None, skip_unknown: bool = False) -> tuple[list[Prediction], Summary]:
    preds = predict_all(read_results(path or packaged_results_path(), skip_unknown=skip_unknown))
    return preds, summarise(preds)


def as_json(preds: list[Prediction], summary: Summary) -> dict[str, Any]:
    rows = []
    for p in preds:
        r = p.result
        rows.append({
            "row": r.row, "hw_id": r.hw_id, "num_chips": r.num_chips, "model_id": r.model_id,
            "precision_id": r.precision, "workload_id": r.workload_id, "metric_id": r.metric,
            "family": report_family(r), "published": r.value if math.isfinite(r.value) else None,
            "predicted": p.predicted, "pct_error": p.pct_error,
            "layout": p.layout, "skipped": p.skipped or None,
        })
    return {"rows": rows, "summary": summary.as_dict(),
            "families": {k: s.as_dict() for k, s in by_family(preds).items()}}


# ---- power -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PowerPrediction:
    row: Any  # tokenfleet.perf.power_data.PowerRow
    predicted_w: float | None
    layout: str = ""
    skipped: str = ""
    model_tok_s: float | None = None  # the performance model's own offline throughput (offline rows)
    model_w: float | None = None  # power at that throughput

    @property
    def pct_error(self) -> float | None:
        if self.predicted_w is None:
            return None
        return 100.0 * (self.predicted_w - self.row.system_power_w) / self.row.system_power_w

    @property
    def model_j_per_token(self) -> float | None:
        """End to end: predicted power / predicted throughput (what the planner uses)."""
        if self.model_w is None or not self.model_tok_s:
            return None
        return self.model_w / self.model_tok_s

    @property
    def j_pct_error(self) -> float | None:
        pub = self.row.joules_per_output_token
        if pub is None and self.row.throughput_tok_s:
            pub = self.row.system_power_w / self.row.throughput_tok_s
        mj = self.model_j_per_token
        return None if mj is None or not pub else 100.0 * (mj - pub) / pub


def validate_power(path: str | Path | None = None) -> tuple[list[PowerPrediction], Summary]:
    """Predict the wall power of every row of a power CSV (default: the packaged published_power.csv)."""
    from tokenfleet.perf.power_calibrate import predict_power_w, row_load
    from tokenfleet.perf.power_data import read_power

    out = []
    for r in read_power(path):
        load = row_load(r)
        if load.skipped:
            out.append(PowerPrediction(r, None, skipped=load.skipped))
            continue
        model_w = predict_power_w(r, load, at_model_rate=True) if load.model_point is not None else None
        out.append(PowerPrediction(r, predict_power_w(r, load), load.layout, "", load.model_tok_s, model_w))
    return out, summary_of([p.pct_error for p in out])


def power_groups(preds: list[PowerPrediction]) -> dict[str, Summary]:
    """Loaded runs and idle floors summarised apart (their targets differ: 10 % and 15 %)."""
    loaded = [p.pct_error for p in preds if p.row.scenario != "idle"]
    idle = [p.pct_error for p in preds if p.row.scenario == "idle"]
    j = [p.j_pct_error for p in preds if p.row.scenario == "offline"]
    return {"loaded": summary_of(loaded), "idle": summary_of(idle), "j_per_token_offline": summary_of(j)}


def power_as_json(preds: list[PowerPrediction], summary: Summary) -> dict[str, Any]:
    rows = []
    for p in preds:
        r = p.row
        pub_j = r.joules_per_output_token or (r.system_power_w / r.throughput_tok_s if r.throughput_tok_s else None)
        rows.append({
            "row": r.row, "hw_id": r.hw_id, "num_chips": r.num_chips, "model_id": r.model_id,
            "precision_id": r.precision, "workload_id": r.workload_id, "scenario": r.scenario,
            "tdp_setting_w": r.tdp_setting_w, "liquid_cooled": r.liquid, "throughput_tok_s": r.throughput_tok_s,
            "published": r.system_power_w, "predicted": p.predicted_w, "pct_error": p.pct_error,
            "published_j_per_token": pub_j,
            "predicted_j_per_token": p.predicted_w / r.throughput_tok_s if p.predicted_w and r.throughput_tok_s
            else None,
            "model_tok_s": p.model_tok_s, "model_j_per_token": p.model_j_per_token, "j_pct_error": p.j_pct_error,
            "layout": p.layout, "skipped": p.skipped or None,
        })
    return {"rows": rows, "summary": summary.as_dict(),
            "families": {k: s.as_dict() for k, s in power_groups(preds).items()}}
