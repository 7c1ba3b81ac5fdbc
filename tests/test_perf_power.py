"""Power model: the closed form, caps and cooling, monotone in load, the fit recovers known parameters."""

from __future__ import annotations

import itertools

import pytest

from tokenfleet import catalog, perf
from tokenfleet.perf import power, power_model, steady
from tokenfleet.perf.power_calibrate import fit_family, predict_power_w, row_load
from tokenfleet.perf.power_data import read_power
from tokenfleet.perf.power_model import PowerParams

P = PowerParams(idle_frac=0.1, loss_frac=0.2, host_w=200.0, fan_frac=0.25)


def test_draw_is_the_closed_form() -> None:
    hw = catalog.hardware("h200")  # 700 W TDP
    # n x [(1 + loss) x (idle x TDP + a x (cap - idle x TDP)) + host x (1 - fans if liquid)]
    assert power_model.draw_w(hw, 8, 0.5, params=P) == pytest.approx(8 * (1.2 * (70 + 0.5 * 630) + 200))
    assert power_model.draw_w(hw, 8, 1.0, cap_w=500, params=P) == pytest.approx(8 * (1.2 * 500 + 200))
    assert power_model.idle_w(hw, 8, liquid=True, params=P) == pytest.approx(8 * (1.2 * 70 + 150))
    assert power_model.draw_w(hw, 8, 7.0, params=P) == power_model.peak_w(hw, 8, params=P)  # clipped to 1
    assert power_model.draw_w(hw, 8, float("nan"), params=P) == power_model.idle_w(hw, 8, params=P)


def test_a_family_without_measurements_shares_the_measured_host_fraction() -> None:
    hbm, lpu = power_model.params_for_family("hbm"), power_model.params_for_family("lpu")
    assert hbm.host_w is not None and "fitted" in hbm.source
    assert lpu.host_w is None and "measured on hbm" in lpu.source and lpu.loss_frac == hbm.loss_frac
    cs3 = catalog.hardware("cs3")  # the 23 kW is the whole system at the wall: no host or loss on top
    assert power_model.peak_w(cs3, 1) == pytest.approx(cs3.system_power_w)


def test_activity_weighs_memory_bound_time_below_compute() -> None:
    assert power_model.activity(1.0, 0.5, 1.0) == 1.0
    assert power_model.activity(0.0, 1.0, 1.0) == pytest.approx(power_model.MEMORY_BOUND_WEIGHT)
    assert power_model.activity(0.0, 0.0, 1.0) == 0.0 and power_model.activity(1.0, 1.0, 0.0) == 0.0


CASES = [("llama-3.3-70b", "cs3", None), ("llama-3.3-70b", "cs3", "llama-3.2-1b"), ("llama-2-70b", "h200", None),
         ("llama-3.1-8b", "b200", None), ("llama-3.1-70b", "groq-lpu", None), ("deepseek-r1", "b200", None)]


@pytest.mark.parametrize("model,hw,draft", CASES)
def test_power_never_falls_as_load_rises(model: str, hw: str, draft: str | None) -> None:
    dep = perf.deploy(model, hw, weight_precision="fp4" if model == "deepseek-r1" else None)
    spec = perf.SpecDecode(perf.deploy(draft, hw), 4, 0.8) if draft else None
    cap = steady.offline(dep, 1000, 500, spec).output_tok_s
    idle = power.idle_power_w(dep, spec)
    watts = [power.power_at_rate(dep, f * cap, 1000, 500, spec).power_w
             for f in (0.0, 0.001, 0.01, 0.04, 0.1, 0.3, 0.6, 0.9, 1.0, 2.0)]
    assert watts[0] == pytest.approx(idle)
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(watts)), watts
    assert watts[-3] > watts[3] > idle  # 90 % of capacity draws more than 4 %, and 4 % more than idle
    peak = dep.peak_power_w + (spec.draft.peak_power_w if spec and power.draft_has_own_units(dep) else 0.0)
    assert watts[-1] <= peak + 1e-6


def test_a_draft_on_its_own_systems_draws_its_own_power() -> None:
    dep = perf.deploy("llama-3.3-70b", "cs3")
    spec = perf.SpecDecode(perf.deploy("llama-3.2-1b", "cs3"), 4, 0.8)
    assert power.idle_power_w(dep, spec) == pytest.approx(dep.idle_power_w + spec.draft.idle_power_w)
    gpu = perf.deploy("llama-3.3-70b", "h200", weight_precision="fp8")
    gspec = perf.SpecDecode(perf.deploy("llama-3.2-1b", "h200", weight_precision="fp8"), 4, 0.8)
    assert power.idle_power_w(gpu, gspec) == pytest.approx(gpu.idle_power_w)  # shares the target's GPUs


def test_the_fit_recovers_parameters_it_generated_the_data_from() -> None:
    """Synthetic truth: measured power computed from known parameters at each row's modelled activity."""
    rows = [r for r in read_power() if catalog.hardware(r.hw_id).family == "hbm"]
    loads = [row_load(r) for r in rows]
    truth = PowerParams(idle_frac=0.15, loss_frac=0.12, host_w=260.0, fan_frac=0.3)
    import dataclasses

    synth = [dataclasses.replace(r, system_power_w=predict_power_w(r, ld, truth)) for r, ld in zip(rows, loads,
                                                                                                   strict=True)]
    fit = fit_family("hbm", synth, loads)
    assert fit.params == pytest.approx({"idle_frac": 0.15, "loss_frac": 0.12, "host_w": 260.0, "fan_frac": 0.3},
                                       rel=0.02)
    assert fit.max_abs_pct_error < 0.5


def test_perf_command_counts_the_draft_systems_power(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from _cli import run_cli

    code, out, err = run_cli(capsys, "perf", "llama-3.3-70b", "cs3", "--spec-draft", "llama-3.2-1b", "--chips", "4",
                             "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    cs3 = catalog.hardware("cs3")
    assert row["chips"] == 5  # four systems for the target, one for the draft
    assert row["idle_kw"] * 1e3 == pytest.approx(power_model.idle_w(cs3, 5))
    assert row["peak_kw"] * 1e3 == pytest.approx(power_model.peak_w(cs3, 5))


def test_gemm_row_padding_counts_as_memory_bound_time() -> None:
    """A small batch's under-filled GEMM tiles (m_half rows of padding) take time but do not draw compute-bound
    power: the step reports them as ``padding_s`` and its activity weighs them as memory-bound time."""
    dep = perf.deploy("llama-3.1-8b", "b200")
    c = dep.coefficients
    one = dep.step(0, 1, 1000)
    # one row of a 64-row tensor-core tile pays a 64th of the tile's m_half rows of padding
    assert c.small_m_rows == 64
    assert one.padding_s == pytest.approx(c.dense_mm_flops * c.m_half / 64 * c.inv_flops, rel=1e-9)
    assert 0 < one.padding_s <= one.compute_s
    useful = one.compute_s - one.padding_s
    busy = max(one.compute_s, one.memory_s)
    want = (useful + power_model.MEMORY_BOUND_WEIGHT * (busy - useful)) / one.time_s
    assert power._act(one) == pytest.approx(min(1.0, want), rel=1e-9)
    assert power._act(one) < power_model.activity(one.compute_s, one.memory_s, one.time_s)
    big = dep.step(4096, 256, 256 * 1500)
    assert big.padding_s / big.compute_s < 0.1 < one.padding_s / one.compute_s
