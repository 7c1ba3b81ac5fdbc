"""Leave-one-(hardware, model)-group-out cross-validation of the performance model, summarised.

Every row of a results CSV is predicted by a calibration fitted on all rows except those of its own
(``hw_id``, ``model_id``) group (:func:`tokenfleet.perf.calibrate.cross_validate`): the fit never saw that
hardware run that model. This is how the model generalises to combinations outside the file; the summary
has the shape of ``tokenfleet validate``'s (``rows`` with ``pct_error``, ``summary``, ``families``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenfleet.perf.predict import Prediction
from tokenfleet.perf.results import PublishedResult, read_results
from tokenfleet.perf.validate import Summary, as_json, by_family, packaged_results_path, summarise


@dataclass(frozen=True, slots=True)
class CrossValidation:
    predictions: list[Prediction]
    summary: Summary
    families: dict[str, Summary]
    n_groups: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        doc = as_json(self.predictions, self.summary)
        doc["method"] = (f"leave-one-(hw_id, model_id)-group-out over {self.n_groups} groups: each row predicted "
                         "by a calibration fitted without its group's rows")
        doc["seconds"] = round(self.seconds, 2)
        return doc


def groups_of(rows: list[PublishedResult]) -> dict[tuple[str, str], list[int]]:
    """Row indices per (hw_id, model_id)."""
    out: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault((r.hw_id, r.model_id), []).append(i)
    return out


def cross_validate_rows(rows: list[PublishedResult],
                        progress: Callable[[str], None] | None = None) -> CrossValidation:
    import time

    from tokenfleet.perf.calibrate import cross_validate
    from tokenfleet.perf.power_runs import power_throughput_rows

    t0 = time.perf_counter()
    if progress:
        progress(f"cross-validating {len(rows)} rows in {len(groups_of(rows))} (hardware, model) groups")
    # the fits train on the power runs' throughputs too, as the packaged calibration does (``calibrate``)
    preds = list(cross_validate(rows, progress=progress, extra=power_throughput_rows(rows)))
    if len(preds) != len(rows):  # the calibration's contract: one prediction per row, same order
        raise RuntimeError(f"cross_validate returned {len(preds)} predictions for {len(rows)} rows")
    return CrossValidation(preds, summarise(preds), by_family(preds), len(groups_of(rows)),
                           time.perf_counter() - t0)


def cross_validate_file(path: str | Path | None = None, skip_unknown: bool = False,
                        progress: Callable[[str], None] | None = None) -> CrossValidation:
    return cross_validate_rows(read_results(path or packaged_results_path(), skip_unknown=skip_unknown), progress)
