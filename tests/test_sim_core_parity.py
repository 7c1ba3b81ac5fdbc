"""The compiled simulator core gives every request the same timings as the pure-Python core, bit for bit.

Each scenario runs through both cores (``Simulation(core=...)``) and every per-request column, every
replica's counters and energy, and the summary must be equal exactly. The scenarios cover each path of the
core: the least-outstanding and round-robin indexes, table scoring (``least-ttft``, ``slo-tier``), the
prefill-queue columns and the prefix view (``prefix-aware``), KV pressure with preemption, prefix caching,
prefill/decode hand-offs, speculative and pipelined pools (the step time asked of the deployment), exact
stepping, several classes merged, requests longer than the KV cache, and a plug-in policy from outside
tokenfleet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from tokenfleet.routing import registry
from tokenfleet.routing.pickers import MaxScorePicker
from tokenfleet.routing.plugins import Profile
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.sim.core import compiled_status
from tokenfleet.sim.summary import summarize
from tokenfleet.workload import Request

BUILT = compiled_status()[0] is not None
pytestmark = pytest.mark.skipif(
    not BUILT and not os.environ.get("TOKENFLEET_REQUIRE_COMPILED"),
    reason=f"compiled core not available: {compiled_status()[1]}",
)


def _class(name: str, model: str = "llama-3.1-8b", rate: float = 40.0, process: str = "poisson",
           isl: float = 900, osl: float = 180, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": model,
        "arrivals": {"process": process, "rate_rps": rate, **({"cv": 2.0} if process == "gamma" else {})},
        "input_tokens": {"dist": "lognormal", "mean": isl, "cv": 1.0, "max_tokens": 12000},
        "output_tokens": {"dist": "lognormal", "mean": osl, "cv": 1.0, "max_tokens": 2000},
        "slo": {"ttft_p99_ms": 2000, "tpot_p99_ms": 80},
        **extra,
    }


SCENARIOS: dict[str, dict[str, Any]] = {
    "least-outstanding-mixed-fleet": {
        "traffic": [_class("chat", "llama-3.3-70b", rate=30, process="gamma")],
        "pools": [{"name": "gb200", "hardware": "gb200-nvl72", "replicas": 6},
                  {"name": "cs3", "hardware": "cs3", "replicas": 1}],
        "routing": {"policy": "least-outstanding"},
        "sim": {"max_requests": 4000, "seed": 2, "power_bin_s": 5},
    },
    "least-ttft-two-classes": {
        "traffic": [_class("chat", rate=30), _class("code", rate=15, process="gamma", isl=3000, osl=90)],
        "pools": [{"name": "h100", "hardware": "h100", "replicas": 4},
                  {"name": "wafer", "hardware": "cs3", "replicas": 1}],
        "routing": {"policy": "least-ttft"},
        "sim": {"max_requests": 3000, "seed": 5},
    },
    "kv-pressure-preemption-slo-tier": {  # 70B on two H100s holds ~8.8k KV tokens: recompute preemption
        "traffic": [_class("c", "llama-3.3-70b", rate=4, isl=800, osl=300)],
        "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2, "scheduler": {"max_batched_tokens": 1024}}],
        "routing": {"policy": "slo-tier"},
        "sim": {"max_requests": 1500, "seed": 3},
    },
    "round-robin-speculative-and-pipelined": {
        "traffic": [_class("fast", "llama-3.3-70b", rate=6, isl=600, osl=250)],
        "pools": [{"name": "spec", "hardware": "cs3", "replicas": 2,
                   "speculative": {"draft_model": "llama-3.2-1b", "draft_tokens": 4, "acceptance": 0.8}},
                  {"name": "pp", "hardware": "h100", "replicas": 2, "layout": {"num_chips": 4, "tp": 2, "pp": 2}}],
        "routing": {"policy": "round-robin"},
        "sim": {"max_requests": 1500, "seed": 7},
    },
    "disaggregated-prefill-decode": {
        "traffic": [_class("c", rate=25, isl=2500, osl=120)],
        "pools": [{"name": "pre", "hardware": "cs3", "role": "prefill", "replicas": 1},
                  {"name": "dec", "hardware": "h100", "role": "decode", "replicas": 3}],
        "disaggregation": {"prefill_pools": ["pre"], "decode_pools": ["dec"], "link_gbps": 100,
                           "link_latency_ms": 0.5},
        "routing": {"policy": "least-outstanding"},
        "sim": {"max_requests": 2000, "seed": 11},
    },
    "exact-stepping-jsq": {
        "traffic": [_class("c", rate=20, osl=120)],
        "pools": [{"name": "gpu", "hardware": "h200", "replicas": 2}],
        "routing": {"policy": "jsq"},
        "sim": {"max_requests": 800, "seed": 13, "exact": True},
    },
    "prompts-longer-than-the-kv-cache": {  # 70B on two H100s: 12k-token prompts cannot fit, they are rejected
        "traffic": [_class("c", "llama-3.3-70b", rate=2, isl=6000, osl=50)],
        "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}],
        "routing": {"policy": "least-outstanding"},
        "sim": {"max_requests": 600, "seed": 17},
    },
}


def _prefix_requests(n: int, seed: int) -> list[Request]:
    """Multi-turn conversations: each turn's prompt repeats the conversation's earlier 512-token blocks."""
    rng = np.random.default_rng(seed)
    out, convs, t = [], [], 0.0
    for i in range(n):
        t += float(rng.exponential(0.05))
        if not convs or rng.random() < 0.3:
            convs.append(list(range(len(convs) * 1000, len(convs) * 1000 + int(rng.integers(1, 4)))))
        conv = convs[int(rng.integers(len(convs)))]
        conv.append(conv[-1] + 1)
        out.append(Request(i, t, len(conv) * 512 + int(rng.integers(1, 400)), int(rng.integers(5, 200)), "m",
                           tuple(conv)))
    return out


PREFIX = {
    "traffic": [_class("m")],
    "pools": [{"name": "h200", "hardware": "h200", "replicas": 3, "scheduler": {"max_batched_tokens": 4096}},
              {"name": "h100", "hardware": "h100", "replicas": 1, "scheduler": {"prefix_caching": False}}],
    "routing": {"policy": "prefix-aware"},
    "sim": {"max_requests": 1500, "seed": 19},
}


@dataclass(slots=True)
class ShortestPromptQueue:
    """A plug-in scorer from outside tokenfleet: fewest waiting prefill tokens (reads a prefill-queue column)."""

    name: str = "short-queue"
    bounded: ClassVar[bool] = False

    def score(self, req: Any, table: Any, idx: np.ndarray) -> np.ndarray:
        w = table.waiting_prefill_tokens[idx].astype(float)
        return 1.0 - w / (w.max() + 1.0)


def _run(doc: dict[str, Any], core: str, requests: list[Request] | None = None) -> tuple[dict, Any, dict]:
    sim = Simulation(parse_scenario(doc, "parity.yaml"), core=core, requests=requests)
    res = sim.run()
    assert res.core == core
    reps = {k: [getattr(r.stats, k) for r in res.replicas] for k in
            ("busy_s", "dyn_energy_j", "iterations", "runs", "preemptions", "max_kv_blocks", "prefill_tokens",
             "decode_tokens", "cached_tokens", "prompt_tokens")}
    reps["bins"] = [sorted(r.bins.items()) for r in res.replicas]
    reps["handed_off"] = res.handed_off
    s = summarize(res)
    s.pop("wall_s"), s.pop("sim_requests_per_s"), s.pop("core", None)
    return res.columns, reps, s


def _same(doc: dict[str, Any], requests: list[Request] | None = None) -> dict[str, np.ndarray]:
    (ca, ra, sa), (cb, rb, sb) = _run(doc, "compiled", requests), _run(doc, "python", requests)
    assert ca.keys() == cb.keys() and ca["request_id"].size > 0
    for k in ca:
        np.testing.assert_array_equal(ca[k], cb[k], err_msg=f"column {k}")
    assert ra == rb
    assert repr(sa) == repr(sb)  # every figure of the summary, NaN included
    return ca


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_both_cores_give_every_request_the_same_timings(name: str) -> None:
    cols = _same(SCENARIOS[name])
    if name.startswith("kv-pressure"):
        assert cols["preemptions"].sum() > 0
    if name.startswith("disaggregated"):
        assert set(cols["pool_idx"].tolist()) == {1}
    if name.startswith("least-ttft"):
        assert set(cols["class_idx"].tolist()) == {0, 1}


def test_both_cores_agree_with_prefix_caching_and_prefix_aware_routing() -> None:
    cols = _same(PREFIX, _prefix_requests(1500, 23))
    assert cols["cached_tokens"].sum() > 0


def test_both_cores_agree_on_a_plug_in_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    def plug_in(weights: Any, seed: int) -> Profile:
        return Profile("plug-in", [], [(ShortestPromptQueue(), 1.0)], MaxScorePicker())

    monkeypatch.setitem(registry.POLICIES, "plug-in", plug_in)
    doc = {**SCENARIOS["least-ttft-two-classes"], "routing": {"policy": "plug-in"}}
    cols = _same(doc)
    assert len(set(cols["replica"].tolist())) > 1
