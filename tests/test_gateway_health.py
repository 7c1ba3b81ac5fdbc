"""Backend health that recovers: one slow spell must not wedge a pool, failover time is not the answering
backend's, old evidence never refuses a request. The router with a fake clock, then real servers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.faults import Faults
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.fleet import Fleet
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.runner import ServerThread

MODEL = "llama-3.1-8b"
MSG = [{"role": "user", "content": "hello"}]


@dataclass
class FakeCall:
    ttft_slo_ms: float | None
    model: str = MODEL
    slo_class: str = "fast"
    tier: str = "ultra-low-latency"
    prompt_tokens_est: int = 8
    max_output_tokens: int = 8
    tpot_slo_ms: float | None = None
    request_id: str = "r"
    body: dict[str, Any] = field(default_factory=dict)


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def router() -> tuple[Router, Fleet, Clock]:
    pool = {"name": "h100", "model": MODEL, "hardware": "h100",
            "backends": [{"url": "http://127.0.0.1:9", "name": "b0"}]}
    cfg = parse_config({"health": {"half_life_s": 5.0, "fresh_s": 5.0}, "pools": [pool]})
    fleet, clock = Fleet(cfg), Clock()
    return Router(cfg.routing, fleet, clock, cfg.health.rule()), fleet, clock


def test_a_slow_spell_refuses_only_while_its_evidence_is_fresh() -> None:
    r, fleet, clock = router()
    b = fleet.backends[0]
    call = FakeCall(ttft_slo_ms=2000)
    assert r.choose(call, set()) is b  # the model says an H100 answers an 8-token prompt well within 2 s
    b.telemetry.observe_success(clock.t, 10.0, None)  # then a stall: 10 s to the first token
    b.pool.last_tried = clock.t
    assert r.choose(call, set()) is None  # fresh evidence: refused
    clock.t += 4.9
    assert r.choose(call, set()) is None
    clock.t += 0.1  # five seconds without a try: the evidence may steer, not refuse
    assert r.choose(call, set()) is b and b.pool.last_tried == clock.t
    assert r.choose(call, set()) is None  # one request re-measures; the others wait for its evidence
    b.telemetry.observe_success(clock.t + 0.2, 0.05, None)  # it answered fast
    b.pool.last_tried = clock.t + 0.2
    clock.t += 0.3
    ttft, _ = r.estimates_s(b, 8)
    assert ttft is not None and ttft > 2.0  # one fast answer is not yet enough...
    clock.t += 3 * 5.0  # ...but without any further sample the evidence fades to the model
    assert r.choose(call, set()) is b


def test_stale_evidence_never_overrides_the_model() -> None:
    r, fleet, clock = router()
    b = fleet.backends[0]
    b.telemetry.observe_success(clock.t, 10.0, None)
    clock.t += 60.0
    assert r.choose(FakeCall(ttft_slo_ms=0.5), set()) is None  # the model itself says 0.5 ms is out of reach
    assert r.choose(FakeCall(ttft_slo_ms=2000), set()) is b


def _config(tmp_path: Path, backends: list[ServerThread], **extra: Any) -> dict[str, Any]:
    pool = {"name": "h100", "model": MODEL, "hardware": "h100",
            "backends": [{"url": b.url, "name": f"b{i}"} for i, b in enumerate(backends)], **extra.pop("pool", {})}
    return {"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}", "flush_interval_s": 0.05},
            "retry": {"backoff_ms": 0}, "routing": {"policy": "round-robin"}, "pools": [pool], **extra}


def _chat(gw: ServerThread, **body: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                      json={"model": MODEL, "messages": MSG, "max_tokens": 3, **body})


def test_failover_time_is_not_charged_to_the_backend_that_answers(tmp_path: Path) -> None:
    hung = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0,
                                            faults=Faults.from_dict({"hang_rate": 1.0}))).start()
    good = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    app = create_app(parse_config(_config(tmp_path, [hung, good], pool={"ttfb_timeout_s": 0.5},
                                          health={"probes": False})))
    try:
        with ServerThread(app) as gw:
            t0 = time.perf_counter()
            r = _chat(gw)
            elapsed = time.perf_counter() - t0
            tel = app.state.gateway.fleet.backends[1].telemetry
    finally:
        hung.kill()
        good.stop()
    assert r.status_code == 200 and r.headers["x-tokenfleet-backend"] == "b1"
    assert elapsed >= 0.5  # the client waited out the hung backend's time-to-first-byte limit...
    assert tel.ttft.samples == 1 and tel.ttft.mean_s is not None
    assert tel.ttft.mean_s < elapsed - 0.5  # ...which is not in the answering backend's TTFT


@pytest.mark.parametrize("probes", [True, False])
def test_a_pool_wedged_by_a_stall_recovers_when_the_backend_does(tmp_path: Path, probes: bool) -> None:
    """A 1.5 s stall pushes the observed TTFT past the class's 1 s SLO and the class is refused; once the
    backend answers fast again the class is served again — re-measured by probes, or (without them) by
    the first request after ``fresh_s``. Before, the average only moved on successes and stayed wedged."""
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    cfg = _config(tmp_path, [emu], classes={"fast": {"tier": "ultra-low-latency", "ttft_ms": 1000}},
                  default_class="fast",
                  health={"half_life_s": 5.0, "fresh_s": 2.0, "probes": probes, "probe_interval_s": 0.2})
    try:
        with ServerThread(create_app(parse_config(cfg))) as gw:
            httpx.post(emu.url + "/_emulator/faults", json={"stall_rate": 1.0, "stall_ms": 1500})
            assert _chat(gw).status_code == 200  # served, slowly: the evidence now says 1.5 s
            refused = _chat(gw)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "slo_capacity_exceeded"
            httpx.post(emu.url + "/_emulator/faults", json={})  # the backend is fast again
            deadline = time.monotonic() + 60
            while (r := _chat(gw)).status_code != 200:
                assert r.status_code == 429 and time.monotonic() < deadline, "the pool stayed wedged"
                time.sleep(0.1)
            metrics = httpx.get(gw.url + "/metrics").text
    finally:
        emu.stop()
    probed = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith('tokenfleet_probes_total{backend="b0",outcome="ok"}'))
    assert (probed > 0) == probes
