"""An independent check of HBM kernel efficiency against measured GEMM times (no published result involved).

``data/vidur_h100_llama2_7b_gemm.csv`` holds, per token count, the summed median time of the four GEMMs of one
Llama-2-7B layer on one H100 (qkv, attention out, gate+up, down; bf16, no tensor parallelism), taken from
Vidur's operator profiles (microsoft/vidur ``data/profiling/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv``,
commit 7d47513, MIT licence; Agrawal et al., "Vidur", MLSys 2024). :func:`fit_gemm_profile` fits the same
roofline the HBM family uses — ``max(FLOPs (m + m_half) / m / (peak x flops_eff), bytes / (bandwidth x
bw_eff))``, the ``m_half`` rows shrinking with ``m`` below one 64-row MMA tile — to those kernel times, so the
kernel-level efficiency can be set beside the end-to-end values fitted on MLPerf rows (which also absorb
attention, element-wise kernels and engine overheads).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from scipy.optimize import least_squares

from tokenfleet import catalog
from tokenfleet.perf.devices.hbm import MMA_TILE_ROWS

SOURCE = ("microsoft/vidur data/profiling/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv @ 7d47513 (MIT): "
          "median of attn_pre_proj + attn_post_proj + mlp_up_proj + mlp_down_proj, tp = 1")


@dataclass(frozen=True, slots=True)
class GemmFit:
    flops_eff: float  # of dense bf16 peak, large GEMMs
    gemm_m_half: float  # rows at half of flops_eff
    bw_eff: float  # of HBM bandwidth, small (memory-bound) GEMMs
    median_abs_pct_error: float
    n_points: int


def load_profile() -> tuple[np.ndarray, np.ndarray]:
    """(tokens, seconds per layer of GEMMs) from the packaged Vidur extract."""
    path = resources.files("tokenfleet.perf").joinpath("data", "vidur_h100_llama2_7b_gemm.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return (np.array([float(r["num_tokens"]) for r in rows]),
            np.array([float(r["gemm_ms_per_layer"]) / 1e3 for r in rows]))


def layer_gemm_params(model_id: str = "llama-2-7b") -> float:
    m = catalog.model(model_id)
    return m.attn_params_per_layer + m.dense_ffn_params


def fit_gemm_profile() -> GemmFit:
    tokens, seconds = load_profile()
    hw = catalog.hardware("h100")
    params = layer_gemm_params()
    peak, bw = hw.tflops("bf16") * 1e12, hw.memory_bw_tbps * 1e12

    def predict(x: np.ndarray) -> np.ndarray:
        eff, m_half, bw_eff = x
        pad = m_half * np.minimum(1.0, tokens / MMA_TILE_ROWS)  # a tensor core's small-M kernels: see hbm.py
        return np.maximum(2 * params * (tokens + pad) / (peak * eff), 2 * params / (bw * bw_eff))

    sol = least_squares(lambda x: np.log(predict(x) / seconds), [0.6, 64.0, 0.8],
                        bounds=([0.1, 0.0, 0.1], [1.0, 2048.0, 1.0]))
    err = np.abs(predict(sol.x) / seconds - 1) * 100
    return GemmFit(float(sol.x[0]), float(sol.x[1]), float(sol.x[2]), float(np.median(err)), int(tokens.size))


def check_line() -> str:
    f = fit_gemm_profile()
    return (f"Vidur H100 Llama-2-7B GEMMs ({f.n_points} token counts): flops_eff {f.flops_eff:.2f}, gemm_m_half "
            f"{f.gemm_m_half:.0f} rows, bw_eff {f.bw_eff:.2f}; median error {f.median_abs_pct_error:.1f}%"
            + ("" if math.isfinite(f.median_abs_pct_error) else " (fit failed)"))
