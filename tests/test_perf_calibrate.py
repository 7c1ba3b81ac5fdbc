"""Calibration API (fit, predict_row, cross_validate), serving stacks, and the packaged fit's accuracy."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tokenfleet import catalog, perf
from tokenfleet.perf import calibrate, stacks
from tokenfleet.perf.predict import row_calibration_key, row_engine
from tokenfleet.perf.results import PublishedResult, read_results
from tokenfleet.perf.validate import packaged_results_path


@pytest.fixture(scope="module")
def rows() -> list[PublishedResult]:
    return read_results(packaged_results_path())


def _errors(preds: list) -> np.ndarray:
    return np.array([abs(p.pct_error) for p in preds if p.pct_error is not None])


def test_stacks_are_chosen_by_date() -> None:
    assert stacks.stack_for("cerebras", "2024-08-27").stack_id == "cerebras@2024-08"
    assert stacks.stack_for("cerebras", "2024-10").stack_id == "cerebras@2024-10"
    assert stacks.stack_for("cerebras", "2025").stack_id == "cerebras@2024-10"
    assert stacks.stack_for("cerebras", "").stack_id == "cerebras@2024-10"  # undated: today's stack
    assert stacks.stack_for("nvidia-hopper", "2025") is None
    assert stacks.month("~2025-2026 (page undated)") == "2025-00" and stacks.month("n/a") == ""


def test_speculation_is_decided_per_stack() -> None:
    assert stacks.speculative_on("cerebras", "unknown", "2026-05") is not None  # production API speculates
    assert stacks.speculative_on("cerebras", "unknown", "2024-08") is None
    assert stacks.speculative_on("cerebras", "no", "2026") is None  # a row that says no is taken at its word
    assert stacks.speculative_on("groq", "unknown", "2025") is None
    assert stacks.speculative_on("aws-hbm", "yes").draft_tokens == 4


def test_sambanova_stack_reaches_its_405b_row_only_with_its_acceptance() -> None:
    """Row 75 (129 tok/s, Llama 3.1 405B bf16 on a 16-socket SN40L rack) is out of reach at acceptance 0.8 for
    every draft length at the family's bandwidth bound; the stack's 0.85 reaches it, its k = 8 near the best."""
    from tokenfleet.perf.params import params_for_hardware
    from tokenfleet.perf.speculative import SpecDecode, round_cost

    s = stacks.stack_for("sambanova")
    assert s is not None and s.speculative and (s.draft_tokens, s.acceptance) == (8, 0.85)
    hw = catalog.hardware("sn40l")
    p = dataclasses.replace(params_for_hardware(hw), bw_eff=calibrate.BOUNDS["bw_eff"][1])
    target = perf.Deployment(catalog.model("llama-3.1-405b"), hw, perf.deploy("llama-3.1-405b", hw).layout, p)
    draft = perf.Deployment(catalog.model("llama-3.2-1b"), hw, target.layout, p)

    def speed(k: int, a: float) -> float:
        spec = SpecDecode(draft, k, a)
        return spec.tokens_per_round / round_cost(target, spec, 1, 1000).time_s

    assert max(speed(k, 0.8) for k in range(1, 41)) < 0.9 * 129.0
    best = max(speed(k, s.acceptance) for k in range(1, 41))
    assert best > 129.0 and speed(s.draft_tokens, s.acceptance) > 0.9 * best


def test_row_keys_follow_stacks(rows: list[PublishedResult]) -> None:
    keys = {row_calibration_key(r) for r in rows}
    assert {"cerebras@2024-08", "cerebras@2024-10", "nvidia-blackwell", "groq"} <= keys


def test_fit_predict_row_round_trip_on_dataflow_rows(rows: list[PublishedResult]) -> None:
    sub = [r for r in rows if not r.is_record and catalog.hardware(r.hw_id).family in ("wafer", "lpu")]
    cal = calibrate.fit(sub)
    keys = {f.key for f in cal.fits}
    assert {"cerebras@2024-08", "cerebras@2024-10", "groq", "family:wafer", "family:lpu"} <= keys
    preds = [calibrate.predict_row(r, cal) for r in sub]
    assert all(p.predicted is not None and p.predicted > 0 for p in preds)
    assert float(np.median(_errors(preds))) < 25.0
    # the fitted parameters are physical and inside their bounds
    for f in cal.fits:
        for name, v in f.params.items():
            lo, hi = calibrate.BOUNDS[name]
            assert lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9), (f.key, name, v)
    # a hardware entry of a fitted group gets that group's parameters; today's stack for undated use
    p = cal.params_for(catalog.hardware("cs3"))
    assert p.layer_latency_s == pytest.approx(cal.groups()["cerebras@2024-10"]["layer_latency_s"])


def test_cross_validation_never_sees_the_left_out_group(rows: list[PublishedResult]) -> None:
    sub = [r for r in rows if catalog.hardware(r.hw_id).family in ("wafer", "lpu")]
    cv = calibrate.cross_validate(sub)
    assert len(cv) == len(sub) and [p.result for p in cv] == sub
    # a group that is alone in its calibration key (groq gpt-oss is not; cs3 qwen3-32b is one of several)
    # is predicted from the other groups' fits: its rows change between in-sample and CV, others may not
    cal = calibrate.fit(sub)
    ins = {p.result.row: p.predicted for p in (calibrate.predict_row(r, cal) for r in sub)}
    moved = [p for p in cv if p.predicted is not None and abs(p.predicted - ins[p.result.row]) > 1e-6]
    assert moved, "leaving a group out must change some prediction"
    assert float(np.median(_errors(cv))) < 40.0


def test_cerebras_today_is_several_times_the_2024_launch_speed() -> None:
    # issue 10 (3): one 2024 fit gave a CS-3 system ~1,100 tok/s on Llama 3.3 70B; 2025-26 speeds are higher
    m, hw = catalog.model("llama-3.3-70b"), catalog.hardware("cs3")
    lay = perf.min_layout(m, hw)
    old = perf.Deployment(m, hw, lay, perf.params_for("cerebras@2024-08", "wafer"))
    new = perf.Deployment(m, hw, lay, perf.params_for("cerebras", "wafer"))
    assert 1 / new.step_time(0, 1, 1500) > 1.5 / old.step_time(0, 1, 1500)  # the software alone
    stack = stacks.stack_for("cerebras")
    draft_m = catalog.model(stacks.DRAFT_FOR["llama-3.3-70b"])
    draft = perf.Deployment(draft_m, hw, perf.min_layout(draft_m, hw), new.params)
    spec = perf.SpecDecode(draft, stack.draft_tokens, stack.acceptance)
    today = perf.single.per_user_tok_s(new, 1000, 1000, spec)
    assert today > 3.0 * perf.single.per_user_tok_s(old, 1000, 1000)  # and its production speculation
    # more systems never slow a user down: the hop between systems is physical (microseconds)
    six = perf.Deployment(m, hw, perf.make_layout(m, hw, 6), perf.params_for("cerebras", "wafer"))
    assert six.step_time(0, 1, 1500) < new.step_time(0, 1, 1500) * 1.05


def test_packaged_fit_meets_the_in_sample_targets(rows: list[PublishedResult]) -> None:
    preds = [calibrate.predict_row(r) for r in rows]
    errs = _errors(preds)
    assert len(errs) >= 110
    assert float(np.median(errs)) <= 15.0 and float(np.percentile(errs, 90)) <= 50.0
    fams: dict[str, list[float]] = {}
    for p in preds:
        if p.pct_error is not None:
            fams.setdefault(calibrate.report_family(p.result), []).append(abs(p.pct_error))
    assert {"gpu-dense", "gpu-moe", "wafer-dense", "wafer-moe", "lpu-dense"} <= set(fams)


def test_report_family() -> None:
    r = PublishedResult(1, "cs3", None, "gpt-oss-120b", None, "single-stream", "per_user_tok_s", None, None, None,
                        "unknown", 1.0)
    assert calibrate.report_family(r) == "wafer-moe"
    assert calibrate.report_family(dataclasses.replace(r, hw_id="h100", model_id="llama-3.1-8b")) == "gpu-dense"


def test_serving_engine_is_read_from_the_notes() -> None:
    # an MLPerf software list naming TensorRT-LLM among others is the reference engine, not vLLM
    assert stacks.engine_of("software: TensorRT 10.14, TensorRT-LLM feat/1.2, NVIDIA Dynamo, vLLM CentML:x") \
        == stacks.REFERENCE_ENGINE
    assert stacks.engine_of("software: LLM-D v0.5.0 ,OpenShift 4.21") == "vllm"
    assert stacks.engine_of("vllm/vllm-tpu docker, --async-scheduling") == "vllm"
    assert stacks.engine_of("jetstream-pytorch engine") == "jetstream"
    assert stacks.engine_of("") == stacks.REFERENCE_ENGINE  # MLPerf closed NVIDIA rows name no engine
    assert stacks.engine_of("", "NVIDIA") == stacks.REFERENCE_ENGINE


def test_a_row_on_amd_that_names_no_engine_ran_vllm(rows: list[PublishedResult]) -> None:
    # TensorRT-LLM does not run on AMD GPUs: AMD's MLPerf v6.0 MI355X rows and InferenceX's, naming no engine,
    # take vLLM, the engine AMD's earlier MLPerf rows in the file name; an engine a row names still wins
    assert stacks.engine_of("AMD claims ~B200 parity offline", "AMD") == "vllm"
    assert stacks.engine_of("SGLang 0.5", "AMD") == "sglang"
    amd = [r for r in rows if catalog.hardware(r.hw_id).vendor == "AMD"]
    assert amd and all(row_engine(r) in ("vllm", "sglang") for r in amd)
    nvidia_mlperf = [r for r in rows if r.hw_id == "b200" and "inference_results" in r.source_url and not r.notes]
    assert nvidia_mlperf and all(row_engine(r) == stacks.REFERENCE_ENGINE for r in nvidia_mlperf)


def test_planning_runs_each_vendors_own_engine() -> None:
    # an HBM generation's fit is the reference engine's physics: a plan on AMD runs it at vLLM's fitted speed,
    # on NVIDIA at the reference's; dataflow systems run their vendor's own stack
    from tokenfleet.perf.params import engine_speed, params_for, params_for_hardware
    mi355x, b200, cs3 = (catalog.hardware(h) for h in ("mi355x", "b200", "cs3"))
    speed = engine_speed("vllm")
    assert 0.25 <= speed < 1.0
    raw = params_for(mi355x.calibration_group, mi355x.family)
    amd = params_for_hardware(mi355x)
    assert amd.flops_eff == pytest.approx(raw.flops_eff * speed)
    assert amd.step_overhead_s == pytest.approx(raw.step_overhead_s / speed)
    assert perf.deploy("llama-3.1-8b", mi355x).params == amd
    assert params_for_hardware(b200) == params_for(b200.calibration_group, b200.family)
    assert params_for_hardware(cs3) == params_for(cs3.calibration_group, cs3.family)


def test_one_engine_speed_is_shared_by_generations_and_helps_its_rows(rows: list[PublishedResult],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Hopper (TensorRT-LLM MLPerf rows and RedHat's vLLM rows) and AMD CDNA3 (vLLM only): one vLLM speed
    sub = [r for r in rows if r.hw_id in ("h100", "mi300x")]
    cal = calibrate.fit(sub)
    speeds = cal.engine_speeds()
    assert set(speeds) == {"vllm"}
    assert calibrate.ENGINE_BOUNDS[0] <= speeds["vllm"] < 1.0  # vLLM below the MLPerf TensorRT-LLM kernels
    vllm = [r for r in sub if row_engine(r) == "vllm"]
    assert {r.hw_id for r in vllm} == {"h100", "mi300x"}
    trt = [r for r in sub if row_engine(r) == stacks.REFERENCE_ENGINE]
    assert trt and all(cal.speed_for_row(r) == 1.0 for r in trt)
    with_engines = _errors([calibrate.predict_row(r, cal) for r in sub])
    # the same rows fitted without engines (every row at the reference engine) fit worse
    monkeypatch.setattr(stacks, "ENGINES", ())
    monkeypatch.setattr(stacks, "OTHER_VENDORS_ENGINE", stacks.REFERENCE_ENGINE)
    plain = calibrate.fit(sub)
    assert plain.engine_speeds() == {}
    without = _errors([calibrate.predict_row(r, plain) for r in sub])
    assert float(np.mean(with_engines)) < float(np.mean(without))


def test_moe_rows_fit_only_the_expert_parameters_and_the_profiled_overhead(rows: list[PublishedResult]) -> None:
    """Two-stage fit: a key's dense parameters come from its dense rows alone at its per-iteration overhead, so
    adding its MoE rows (gpt-oss, and Mixtral's power run) moves only the MoE parameters and the overhead,
    which is profiled on all the key's rows (dense throughput rows barely tell it) and kept at the value whose
    fit misses them least."""
    from tokenfleet.perf.params import FAMILY_DEFAULTS
    from tokenfleet.perf.power_runs import power_throughput_rows
    hopper = [r for r in rows + power_throughput_rows(rows)
              if catalog.hardware(r.hw_id).calibration_group == "nvidia-hopper"]
    dense = [r for r in hopper if not catalog.model(r.model_id).is_moe]
    assert dense and len(dense) < len(hopper)
    assert len({r.model_id for r in hopper if catalog.model(r.model_id).is_moe}) >= calibrate.MIN_MOE_MODELS
    both = calibrate._fit_key("nvidia-hopper", "hbm", hopper)
    overhead = both.params["step_overhead_s"]
    at = FAMILY_DEFAULTS["hbm"].replace(step_overhead_s=overhead)
    alone = calibrate._fit("nvidia-hopper", "hbm", dense, at, exclude=(*calibrate.MOE_PARAMS, "step_overhead_s"))
    assert "expert_m_half" in both.params and "expert_m_half" not in alone.params
    for name, v in alone.params.items():
        assert both.params[name] == pytest.approx(v, rel=1e-12), name
    # the kept fit is the candidate (free fit, or one per profiled value) that misses the key's rows least
    free = calibrate.two_stage("nvidia-hopper", "hbm", hopper, FAMILY_DEFAULTS["hbm"])
    profiled = [calibrate.two_stage("nvidia-hopper", "hbm", hopper, FAMILY_DEFAULTS["hbm"].replace(step_overhead_s=v),
                                    ("step_overhead_s",)) for v in calibrate.PROFILED["step_overhead_s"]]
    assert [c["step_overhead_s"] for c in profiled] == list(calibrate.PROFILED["step_overhead_s"])
    candidates = [free, *profiled]
    kept = candidates[calibrate.profile_choice("hbm", hopper, candidates)]
    assert kept == pytest.approx(both.params, rel=1e-12)
    misses = [calibrate._misses(hopper, FAMILY_DEFAULTS["hbm"].replace(**c), None) for c in candidates]
    # rows no candidate predicts within OUTLIER_FACTOR do not take part in the choice
    inside = [i for i in range(len(hopper)) if min(abs(m[i]) for m in misses) <= math.log(calibrate.OUTLIER_FACTOR)]
    assert len(inside) >= 0.8 * len(hopper)

    def loss(k: int) -> float:
        return sum(calibrate._soft_l1(misses[k][i]) for i in inside)
    assert all(loss(candidates.index(kept)) <= loss(k) + 1e-9 for k in range(len(candidates)))


def test_a_row_no_candidate_explains_does_not_choose_the_overhead(rows: list[PublishedResult]) -> None:
    """A row that every profiled candidate misses by more than OUTLIER_FACTOR (here a copy of a row at a tenth
    of its published value) is left out of the choice: the choice with it equals the choice without it."""
    from tokenfleet.perf.params import FAMILY_DEFAULTS
    hopper = [r for r in rows if catalog.hardware(r.hw_id).calibration_group == "nvidia-hopper"]
    cands = [{"step_overhead_s": v} for v in (1e-3, 2.5e-3, 8e-3)]
    base = [FAMILY_DEFAULTS["hbm"].replace(**c) for c in cands]
    low = dataclasses.replace(hopper[0], value=hopper[0].value / 10)
    assert all(abs(calibrate._misses([low], p, None)[0]) > math.log(calibrate.OUTLIER_FACTOR) for p in base)
    assert calibrate.profile_choice("hbm", [*hopper, low], cands) == calibrate.profile_choice("hbm", hopper, cands)
    # a row the candidates can explain does count: the same copy at its published value is kept in the choice
    assert min(abs(calibrate._misses([hopper[0]], p, None)[0]) for p in base) <= math.log(calibrate.OUTLIER_FACTOR)


def test_moe_parameters_need_rows_of_two_moe_models(rows: list[PublishedResult]) -> None:
    """A key fits its own MoE parameters only from rows of 2+ MoE models; with one model's rows (H200: gpt-oss
    held out leaves Mixtral's power run) it takes the family's, so one model's quirks are not the generation's."""
    hopper = [r for r in rows if catalog.hardware(r.hw_id).calibration_group == "nvidia-hopper"]
    gpt = [r for r in hopper if r.model_id == "gpt-oss-120b"]
    dense = [r for r in hopper if not catalog.model(r.model_id).is_moe]
    assert gpt and dense and not set(calibrate.MOE_PARAMS) & set(calibrate._names("hbm", dense + gpt))
    assert not set(calibrate.MOE_PARAMS) & set(calibrate._names("hbm", gpt))
    mixtral = [r for r in rows if r.model_id == "mixtral-8x7b"][:1]
    assert set(calibrate.MOE_PARAMS) - {"moe_software_gain_per_year"} <= set(calibrate._names("hbm", gpt + mixtral))


def test_power_runs_are_left_out_with_their_group_in_cross_validation(rows: list[PublishedResult]) -> None:
    """An extra (power-run) row of the left-out (hardware, model) group must not train the fit that predicts
    that group: predicting B200 llama-3.1-8b with and without its power run as extra data gives the same CV."""
    from tokenfleet.perf.power_runs import power_throughput_rows
    sub = [r for r in rows if r.hw_id in ("b200", "h200") and r.model_id in ("llama-3.1-8b", "llama-2-70b")]
    extra = [r for r in power_throughput_rows(rows) if (r.hw_id, r.model_id) == ("b200", "llama-3.1-8b")]
    assert extra
    with_extra = calibrate.cross_validate(sub, extra=extra)
    without = calibrate.cross_validate(sub)
    for a, b in zip(with_extra, without, strict=True):
        if (a.result.hw_id, a.result.model_id) == ("b200", "llama-3.1-8b"):
            assert a.predicted == pytest.approx(b.predicted, rel=1e-9)
    # in-sample, the extra row does train the fit
    fitted = calibrate.fit(sub + extra).groups()["nvidia-blackwell"]
    assert fitted != calibrate.fit(sub).groups()["nvidia-blackwell"]


def test_moe_software_gain_acts_on_the_experts_before_the_reference_only() -> None:
    import math

    from tokenfleet.perf.params import EfficiencyParams, years_from_reference

    p = EfficiencyParams(expert_eff=0.9, expert_pair_flops=3e8, moe_software_gain_per_year=0.6,
                         software_gain_per_year=0.0)
    assert p.at_date("") == p and p.at_date("2026-04 (v6.0)") == p and p.at_date("2027-01") == p
    years = years_from_reference("2025-09 (v5.1)")
    assert years == pytest.approx(-7 / 12)
    old = p.at_date("2025-09 (v5.1)")
    assert old.expert_pair_flops == pytest.approx(3e8 * math.exp(0.6 * 7 / 12))
    assert old.expert_eff == pytest.approx(0.9 * math.exp(-0.6 * 7 / 12))
    assert (old.flops_eff, old.step_overhead_s) == (p.flops_eff, p.step_overhead_s)  # dense software unchanged
    # the dense stage never fits it: it is one of the MoE parameters, fitted on MoE rows from 3+ dates
    assert "moe_software_gain_per_year" in calibrate.MOE_PARAMS and "moe_software_gain_per_year" in calibrate.LINEAR
    assert "expert_pair_flops" in calibrate.MOE_PARAMS and calibrate.BOUNDS["expert_m_half"][1] <= 8.0


def test_a_date_given_as_an_mlperf_round_is_read_as_its_publication_month() -> None:
    """A row dated only "MLPerf v5.1" ran September 2025's software, not an undated (today's) result."""
    from tokenfleet.perf.params import MLPERF_ROUNDS, years_from_reference

    assert years_from_reference("MLPerf v5.1") == pytest.approx(years_from_reference("2025-09 (v5.1)"))
    assert years_from_reference("MLPerf v4.1") == pytest.approx(-20 / 12)
    assert years_from_reference("MLPerf v6.0") == 0.0
    assert years_from_reference("v9.9") == 0.0 and years_from_reference("") == 0.0  # unknown round: undated
    assert set(MLPERF_ROUNDS) >= {"4.1", "5.0", "5.1", "6.0"}
