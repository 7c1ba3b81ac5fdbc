"""The simulator's incremental least-outstanding routing gives the same run as the generic profile path."""

from __future__ import annotations

import numpy as np

from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation


def scenario(disaggregated: bool) -> dict[str, object]:
    pools: list[dict[str, object]] = [
        {"name": "gpu", "hardware": "h100", "replicas": 6, "scheduler": {"max_seqs": 16}},
        {"name": "wafer", "hardware": "cs3", "replicas": 2},
    ]
    sc: dict[str, object] = {
        "traffic": [
            {
                "name": "chat",
                "model": "llama-3.1-8b",
                "arrivals": {"process": "gamma", "rate_rps": 60, "cv": 2.0},
                "input_tokens": {"dist": "lognormal", "mean": 800, "cv": 1.0, "max_tokens": 8000},
                "output_tokens": {"dist": "lognormal", "mean": 150, "cv": 1.0, "max_tokens": 1000},
            }
        ],
        "pools": pools,
        "routing": {"policy": "least-outstanding", "weights": {"outstanding": 0.7}},
        "sim": {"max_requests": 3000, "seed": 3},
    }
    if disaggregated:
        pools[1]["role"] = "prefill"
        pools[0]["role"] = "decode"
        sc["disaggregation"] = {"prefill_pools": ["wafer"], "decode_pools": ["gpu"], "link_gbps": 100}
    return sc


def run(disaggregated: bool, fast: bool) -> tuple[dict[str, np.ndarray], Simulation]:
    sim = Simulation(parse_scenario(scenario(disaggregated), "t.yaml"), fast_routing=fast)  # slow: profile scores
    assert (sim.entry_fast is not None) == fast and (sim.decode_fast is not None or not disaggregated or not fast)
    return sim.run().columns, sim


def test_same_requests_same_replicas_same_times() -> None:
    for disaggregated in (False, True):
        (a, sim_a), (b, sim_b) = run(disaggregated, True), run(disaggregated, False)
        assert a["request_id"].size == 3000
        assert len(set(a["replica"].tolist())) > 3  # load really spread over the replicas
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        # the table behind the index ends up holding what the generic path wrote
        for t_a, t_b in ((sim_a.entry_table, sim_b.entry_table), (sim_a.decode_table, sim_b.decode_table)):
            for col in ("in_flight", "queued", "running_seqs", "kv_use_frac", "predicted_ttft_s"):
                np.testing.assert_array_equal(getattr(t_a, col), getattr(t_b, col), err_msg=col)
