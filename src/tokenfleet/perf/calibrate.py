"""Fit a few physically meaningful efficiency parameters per calibration group.

Groups are the hardware entries' ``calibration_group``, one per architecture generation (``nvidia-hopper``,
``nvidia-blackwell``, ``amd-cdna3``, ``cerebras``, ``groq``…).
Each group fits only the parameters its rows can identify:

* HBM groups: achieved fraction of peak FLOPS in large GEMMs (``flops_eff``), the GEMM row count at which
  half of that is reached (``gemm_m_half``: small batches under-fill the tiles; ``expert_m_half`` the same
  for MoE grouped GEMMs, fitted only where MoE rows exist and shared across the family otherwise) and the fixed
  per-iteration overhead (``step_overhead_s``) — from MLPerf Offline / Server
  throughput rows. The achieved HBM bandwidth fraction (``bw_eff``) stays at its physical default: the
  published rows are large-batch throughputs that cannot tell it apart from ``flops_eff``.
* Dataflow groups: the time for a token to cross one layer (``layer_latency_s``), one inter-system hop
  (``hop_latency_s``), and, where TTFT rows exist, the per-request API overhead (``request_overhead_s``) —
  from single-stream speeds.

The objective is the log ratio predicted / published per row (a robust soft-L1 loss, so one outlier
does not drag a group), solved with ``scipy.optimize.least_squares`` inside physical bounds. A group with
no rows of its own (TPUs, Trainium) takes ``family:<family>``: the per-parameter median of the fitted
groups of its family — the typical device of that kind, not a compromise fit across unlike devices.
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
from tokenfleet.errors import TokenfleetError
from tokenfleet.perf.params import FAMILY_DEFAULTS, EfficiencyParams
from tokenfleet.perf.predict import predict
from tokenfleet.perf.results import PublishedResult, read_results

# name -> (lower, upper) physical bounds
BOUNDS: dict[str, tuple[float, float]] = {
    "flops_eff": (0.20, 0.90),
    "bw_eff": (0.60, 0.92),
    "step_overhead_s": (1e-3, 8e-3),
    "gemm_m_half": (4.0, 256.0),
    "expert_m_half": (4.0, 4096.0),
    "seq_overhead_s": (0.0, 2e-5),
    "layer_latency_s": (1e-6, 3e-4),
    "hop_latency_s": (0.0, 3e-3),
    "request_overhead_s": (0.0, 1.0),
}
HBM_FIT = ("flops_eff", "step_overhead_s", "gemm_m_half", "expert_m_half", "seq_overhead_s")
SRAM_FIT = ("layer_latency_s", "hop_latency_s")


@dataclasses.dataclass(frozen=True, slots=True)
class GroupFit:
    key: str  # calibration group, or "family:<family>"
    params: dict[str, float]
    rows: list[int]
    labels: list[str]
    median_abs_pct_error: float


def _fit(key: str, family: str, rows: list[PublishedResult]) -> GroupFit:
    names = list(HBM_FIT if family == "hbm" else SRAM_FIT)
    if not any(catalog.model(r.model_id).is_moe for r in rows):
        names = [n for n in names if n != "expert_m_half"]  # only MoE rows can tell it
    if family != "hbm" and any(r.metric == "ttft_ms" for r in rows):
        names.append("request_overhead_s")
    base = FAMILY_DEFAULTS[family]
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    x0 = np.clip(np.array([getattr(base, n) for n in names]), lo, hi)
    # optimise in a scaled space so every parameter moves on a similar scale
    scale = np.where(hi > 0, hi, 1.0)

    def params_at(x: np.ndarray) -> EfficiencyParams:
        return base.replace(**{n: float(v) for n, v in zip(names, x * scale, strict=True)})

    def residuals(x: np.ndarray) -> np.ndarray:
        p = params_at(x)
        out = []
        for r in rows:
            pred = predict(r, p).predicted
            out.append(math.log(max(pred, 1e-9) / r.value) if pred is not None else 0.0)
        return np.array(out)

    sol = least_squares(residuals, x0 / scale, bounds=(lo / scale, hi / scale), loss="soft_l1",
                        f_scale=0.2, diff_step=1e-3, max_nfev=200)
    final = params_at(sol.x)
    errs = [abs(math.expm1(v)) * 100 for v in residuals(sol.x)]
    return GroupFit(key, {n: float(getattr(final, n)) for n in names}, [r.row for r in rows],
                    [r.label() for r in rows], float(np.median(errs)) if errs else float("nan"))


def fittable(results: list[PublishedResult]) -> list[PublishedResult]:
    """Rows the model can predict (known ids, supported metric, a layout that fits)."""
    out = []
    for r in results:
        try:
            if predict(r).predicted is not None:
                out.append(r)
        except TokenfleetError:
            continue
    return out


def calibrate(path: str | Path, progress: Callable[[str], None] | None = None) -> list[GroupFit]:
    rows = fittable(read_results(path))
    groups: dict[tuple[str, str], list[PublishedResult]] = {}
    for r in rows:
        hw = catalog.hardware(r.hw_id)
        groups.setdefault((hw.calibration_group, hw.family), []).append(r)
    fits = []
    by_family: dict[str, list[GroupFit]] = {}
    for (key, family), grp in sorted(groups.items()):
        if progress:
            progress(f"fitting {key} on {len(grp)} rows")
        fit = _fit(key, family, grp)
        fits.append(fit)
        by_family.setdefault(family, []).append(fit)
    for family, members in sorted(by_family.items()):
        names = {n for m in members for n in m.params}
        params = {n: float(np.median([m.params[n] for m in members if n in m.params])) for n in sorted(names)}
        # a group whose rows could not identify a parameter takes the family's value of it
        for i, m in enumerate(fits):
            if m in members and set(params) - set(m.params):
                fits[i] = dataclasses.replace(m, params={**m.params, **{n: v for n, v in params.items()
                                                                         if n not in m.params}})
        fits.append(GroupFit(f"family:{family}", params, sorted(r for m in members for r in m.rows),
                             [f"median of {', '.join(m.key for m in members)}"],
                             float(np.median([m.median_abs_pct_error for m in members]))))
    return fits


def write_calibration(fits: list[GroupFit], source: str | Path, out: str | Path) -> None:
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    doc: dict[str, Any] = {
        "fitted_on": dt.date.today().isoformat(),
        "source": "shared/data/benchmarks/published_results.csv",
        "source_sha256": digest,
        "method": "scipy.optimize.least_squares, soft-L1 loss on log(predicted/published), physical bounds",
        "groups": {f.key: {"params": f.params, "rows": f.rows, "labels": f.labels,
                           "median_abs_pct_error": round(f.median_abs_pct_error, 2)} for f in fits},
    }
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
