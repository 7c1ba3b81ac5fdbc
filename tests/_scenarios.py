"""Small planning scenarios shared by the sweep and dashboard tests (plain data)."""

from __future__ import annotations

import copy
from typing import Any

_TWO_CLASS_PLAN: dict[str, Any] = {
    "traffic": [
        {"name": "realtime", "model": "llama-3.3-70b", "tier": "ultra-low-latency",
         "arrivals": {"process": "poisson", "rate_rps": 40},
         "input_tokens": {"dist": "fixed", "value": 1000}, "output_tokens": {"dist": "fixed", "value": 200},
         "slo": {"ttft_p99_ms": 400, "min_user_tok_s": 300}},
        {"name": "chat", "model": "llama-3.3-70b", "arrivals": {"process": "poisson", "rate_rps": 200},
         "input_tokens": {"dist": "lognormal", "mean": 1500, "cv": 1.0},
         "output_tokens": {"dist": "lognormal", "mean": 300, "cv": 1.0},
         "slo": {"ttft_p99_ms": 3000, "tpot_p99_ms": 80}},
    ],
    "facility": {"pue": 1.2, "usd_per_mwh": 70, "depreciation_years": 4},
    "sim": {"seed": 3, "duration_s": 30},
    "plan": {"candidates": [{"hardware": "cs3"}, {"hardware": "gb200-nvl72"}, {"hardware": "h100"}],
             "power_budget_mw": 50, "verify": {"enabled": False}},
}


def two_class_plan(name: str, pareto_points: int) -> dict[str, Any]:
    """A realtime tier and a chat class on Llama 3.3 70B; CS-3, GB200 NVL72 and H100 candidates; 50 MW."""
    sc = copy.deepcopy(_TWO_CLASS_PLAN)
    sc["name"] = name
    sc["plan"]["pareto_points"] = pareto_points
    return sc
