"""Prefill/decode disaggregation: the prompt's KV crosses the link before decoding starts."""

from __future__ import annotations

import pytest

from tokenfleet import perf
from tokenfleet.perf.layout import kv_bytes_per_token
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.workload import Request

PROMPT, OUTPUT = 3000, 50


def run(link_gbps: float) -> dict:
    sc = parse_scenario(
        {
            "traffic": [
                {
                    "name": "c",
                    "model": "llama-3.1-8b",
                    "arrivals": {"process": "poisson", "rate_rps": 1},
                    "input_tokens": {"value": PROMPT},
                    "output_tokens": {"value": OUTPUT},
                }
            ],
            "pools": [
                {"name": "pre", "hardware": "cs3", "role": "prefill"},
                {"name": "dec", "hardware": "h100", "role": "decode", "replicas": 2},
            ],
            "disaggregation": {
                "prefill_pools": ["pre"],
                "decode_pools": ["dec"],
                "link_gbps": link_gbps,
                "link_latency_ms": 1.0,
            },
            "sim": {"max_requests": 1},
        },
        "d.yaml",
    )
    reqs = [Request(0, 0.0, PROMPT, OUTPUT, "c"), Request(1, 100.0, PROMPT, OUTPUT, "c")]
    res = Simulation(sc, requests=reqs).run()
    return res.columns


def test_decode_starts_after_kv_transfer_and_runs_on_decode_pool() -> None:
    pre, dec = perf.deploy("llama-3.1-8b", "cs3"), perf.deploy("llama-3.1-8b", "h100")
    c = run(10.0)
    assert c["pool_idx"].tolist() == [1, 1]  # completed on the decode pool
    # first token: prefill on the CS-3 alone
    assert c["first_token_s"][0] == pytest.approx(pre.step_time(PROMPT, 0, 0), rel=1e-9)
    transfer = PROMPT * kv_bytes_per_token(pre.model, pre.layout.kv_precision) / 10e9 + 1e-3
    decode = sum(dec.step_time(0, 1, PROMPT + k) for k in range(OUTPUT - 1))
    assert c["finish_s"][0] - c["first_token_s"][0] == pytest.approx(transfer + decode, rel=1e-9)
    slow = run(5.0)  # half the bandwidth: the transfer takes twice as long
    extra = (slow["finish_s"][0] - slow["first_token_s"][0]) - (c["finish_s"][0] - c["first_token_s"][0])
    assert extra == pytest.approx(transfer - 1e-3, rel=1e-9)


def test_prefill_pool_counts_the_prompts_it_prefilled_and_its_energy_per_token() -> None:
    """The prefill pool's requests complete in the decode pool: it still reports the prompts it prefilled,
    and J per output token of the requests it served, so the pools' J/tok add up to the fleet's."""
    from tokenfleet.sim.summary import summarize

    sc = parse_scenario({
        "traffic": [{"name": "c", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 2},
                     "input_tokens": {"value": PROMPT}, "output_tokens": {"value": OUTPUT}}],
        "pools": [{"name": "pre", "hardware": "cs3", "role": "prefill"},
                  {"name": "dec", "hardware": "h100", "role": "decode", "replicas": 2}],
        "disaggregation": {"prefill_pools": ["pre"], "decode_pools": ["dec"]},
        "sim": {"max_requests": 200, "seed": 3},
    }, "d.yaml")
    s = summarize(Simulation(sc, keep_requests=False).run())
    pre, dec = s["pools"]
    assert pre["requests"] == dec["requests"] == s["requests"] == 200
    out_tokens = 200 * OUTPUT
    for p in (pre, dec):
        assert p["joules_per_output_token"] == pytest.approx(p["energy_kwh"] * 3.6e6 / out_tokens, rel=1e-9)
    assert pre["joules_per_output_token"] + dec["joules_per_output_token"] == pytest.approx(
        s["fleet"]["joules_per_output_token"], rel=1e-9)
