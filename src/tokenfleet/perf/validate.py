"""Predicted vs published, per row and summarised (the numbers ``tokenfleet validate`` prints)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

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
    median_abs_pct_error: float
    p90_abs_pct_error: float
    max_abs_pct_error: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n_predicted": self.n_predicted, "n_skipped": self.n_skipped,
                "median_abs_pct_error": self.median_abs_pct_error,
                "p90_abs_pct_error": self.p90_abs_pct_error, "max_abs_pct_error": self.max_abs_pct_error}


def predict_all(results: list[PublishedResult]) -> list[Prediction]:
    """Predict every row; a row whose ids are unknown is skipped with the catalog's message."""
    out = []
    for res in results:
        try:
            out.append(predict(res))
        except TokenfleetError as exc:
            out.append(Prediction(res, None, skipped=str(exc)))
    return out


def summarise(preds: list[Prediction]) -> Summary:
    errs = np.array([abs(p.pct_error) for p in preds if p.pct_error is not None])
    skipped = sum(1 for p in preds if p.predicted is None)
    if errs.size == 0:
        return Summary(0, skipped, float("nan"), float("nan"), float("nan"))
    return Summary(int(errs.size), skipped, float(np.median(errs)), float(np.percentile(errs, 90)),
                   float(errs.max()))


def validate(path: str | Path | None = None) -> tuple[list[Prediction], Summary]:
    preds = predict_all(read_results(path or packaged_results_path()))
    return preds, summarise(preds)


def as_json(preds: list[Prediction], summary: Summary) -> dict[str, Any]:
    rows = []
    for p in preds:
        r = p.result
        rows.append({
            "row": r.row, "hw_id": r.hw_id, "num_chips": r.num_chips, "model_id": r.model_id,
            "precision_id": r.precision, "workload_id": r.workload_id, "metric_id": r.metric,
            "published": r.value, "predicted": p.predicted, "pct_error": p.pct_error,
            "layout": p.layout, "skipped": p.skipped or None,
        })
    return {"rows": rows, "summary": summary.as_dict()}
