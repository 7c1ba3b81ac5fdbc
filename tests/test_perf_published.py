"""A published run's own configuration (TP, batch cap, power cap) read from its notes, and what it changes."""

from __future__ import annotations

import dataclasses

import pytest

from tokenfleet import catalog
from tokenfleet.perf import published, stacks
from tokenfleet.perf.power_runs import POWER_ROW_BASE, power_throughput_rows
from tokenfleet.perf.predict import predict
from tokenfleet.perf.results import PublishedResult, read_results
from tokenfleet.perf.validate import packaged_results_path

ROWS = {r.row: r for r in read_results(packaged_results_path())}


def _row(notes: str = "", constraints: str = "", **kw: object) -> PublishedResult:
    base = dict(row=1, hw_id="h200", num_chips=8, model_id="llama-2-70b", precision="fp8",
                workload_id="mlperf-llama2-70b", metric="offline_tok_s", ttft_p99_ms=None, tpot_p99_ms=None,
                user_tok_s=None, spec_decode="no", value=30000.0, notes=notes, constraints=constraints)
    base.update(kw)
    return PublishedResult(**base)  # type: ignore[arg-type]


def test_notes_and_constraints_give_tp_batch_cap_and_power_cap() -> None:
    c = published.run_config(_row("TP8; 3200 prompts, max-num-seqs 3200; TGP 1000W"))
    assert (c.tp, c.max_batch, c.power_cap_w) == (8, 3200, 1000.0)
    c = published.run_config(_row(constraints="max throughput; batch size 256; cache length 2048"))
    assert (c.tp, c.max_batch, c.power_cap_w) == (None, 256, None)
    c = published.run_config(_row(constraints="concurrency 64", notes="max-num-seqs 256"))
    assert c.max_batch == 64  # the tighter of the two
    assert published.run_config(_row("TP1 and TP8 tables")).tp is None  # ambiguous: the model chooses
    assert published.run_config(_row("")) == published.RunConfig()


def test_a_maxq_row_takes_the_cap_of_its_power_run() -> None:
    """Rows 9 / 10 (H200 MaxQ, v4.1) are the runs published_power.csv logs at a 500 W cap."""
    assert published.run_config(ROWS[10]).power_cap_w == 500.0
    assert published.run_config(ROWS[9]).power_cap_w == 500.0
    other = dataclasses.replace(ROWS[10], value=ROWS[10].value * 1.2)  # a MaxQ run the power file does not hold
    assert published.run_config(other).power_cap_w is None


def test_clock_follows_the_cube_root_of_the_power_cap() -> None:
    h200 = catalog.hardware("h200")
    assert published.clock_factor(h200, None) == 1.0
    assert published.clock_factor(h200, 700.0) == 1.0
    assert published.clock_factor(h200, 1000.0) == pytest.approx((1000 / 700) ** (1 / 3))
    assert published.clock_factor(h200, 50.0) == published.CLOCK_RANGE[0]


def test_a_higher_power_cap_predicts_more_throughput_on_compute_bound_runs() -> None:
    capped = [predict(_row(f"TGP {w}W")).predicted for w in (500, 700, 1000)]
    assert all(v is not None for v in capped)
    assert capped[0] < capped[1] < capped[2]  # type: ignore[operator]


def test_published_tp_and_batch_cap_shape_the_prediction() -> None:
    p = predict(ROWS[111])  # MI300X, vLLM table: "TP8; ... max-num-seqs 3200"
    assert p.layout.startswith("1x(TP8") and int(p.layout.split("B=")[1]) <= 3200
    free = predict(dataclasses.replace(ROWS[111], notes="", constraints=""))
    assert free.predicted is not None and p.predicted is not None and free.layout != p.layout
    # a system-wide cap with no TP published is shared among the replicas the model chooses
    tpu = predict(ROWS[122])
    replicas = int(tpu.layout.split("x(")[0])
    assert replicas * int(tpu.layout.split("B=")[1]) <= 256


def test_stacks_speculate_only_where_the_draft_is_small_against_the_target() -> None:
    m = catalog.model
    assert stacks.worth_speculating(m("llama-3.1-70b"), m("llama-3.2-1b"))
    assert not stacks.worth_speculating(m("llama-3.1-8b"), m("llama-3.2-1b"))
    assert not stacks.worth_speculating(m("gpt-oss-120b"), m("gpt-oss-20b"))  # 3.6B active vs 5.1B
    cs3_8b = predict(ROWS[59])  # Cerebras 8B, October-2024+ stack: no draft for it
    assert "+spec" not in cs3_8b.layout
    assert "+spec" in predict(ROWS[37]).layout  # 70B with speculation, as published


def test_power_runs_add_their_offline_throughput_once() -> None:
    results = list(ROWS.values())
    extra = power_throughput_rows(results)
    assert extra and all(r.row > POWER_ROW_BASE and r.metric == "offline_tok_s" for r in extra)
    # the H200 MaxQ llama-2-70b offline run is row 10 of the results file already: not added twice
    assert not any(r.hw_id == "h200" and r.model_id == "llama-2-70b" for r in extra)
    assert any(r.hw_id == "h200" and r.model_id == "mixtral-8x7b" for r in extra)
    assert all(published.run_config(r).power_cap_w for r in extra)
    # replicate (ranging) runs are left out: one row per configuration
    assert len({(r.hw_id, r.model_id) for r in extra}) == len(extra)


def test_validate_predicts_rows_that_differ_only_in_their_notes_apart() -> None:
    """Rows 5 / 7 / 9: the same 8x H200 MLPerf v4.1 Server run at 700 W, 1000 W and the 500 W MaxQ cap; the
    validate command's de-duplication must not give them one prediction."""
    from tokenfleet.perf.validate import predict_all
    preds = {p.result.row: p.predicted for p in predict_all([ROWS[5], ROWS[7], ROWS[9]])}
    assert preds[9] < preds[5] < preds[7]  # type: ignore[operator]
    assert preds[5] == predict(ROWS[5]).predicted


def test_jetstream_runs_one_mesh_over_the_slice_with_weight_only_int8() -> None:
    """Rows 121 / 122: jetstream-pytorch on a v5e-8, bf16 and int8 (weight-only) Llama 3 8B."""
    bf16, int8 = ROWS[121], ROWS[122]
    assert stacks.engine_of(int8.notes) == "jetstream"
    assert published.run_config(bf16) == published.RunConfig(tp=8, max_batch=128)
    assert published.run_config(int8) == published.RunConfig(tp=8, max_batch=256, weight_only=True)
    # another engine's int8 keeps its int8 kernels and leaves the layout to the model
    other = published.run_config(_row("vLLM", precision="int8"))
    assert (other.tp, other.weight_only) == (None, False)
    pred = predict(int8)
    assert pred.layout.startswith("1x(TP8 int8-w") and pred.predicted is not None


def test_weight_only_kernels_read_the_format_and_multiply_at_16_bits() -> None:
    from tokenfleet import perf
    from tokenfleet.perf.devices import base

    m, hw = catalog.model("llama-3-8b"), catalog.hardware("tpu-v5e")
    assert base.compute_precision(m, hw, "int8") == "int8" and hw.tflops("int8") == pytest.approx(2 * 196.5, abs=1)
    assert base.compute_precision(m, hw, "int8", weight_only=True) == "bf16"
    w8 = perf.deploy(m, hw, perf.Layout(8, 8, 1, "int8", "int8"))
    w8a16 = perf.deploy(m, hw, perf.Layout(8, 8, 1, "int8", "int8", weight_only=True))
    assert w8a16.coefficients.dense_bytes == w8.coefficients.dense_bytes  # the same int8 bytes
    assert w8a16.coefficients.inv_flops == pytest.approx(393 / 197 * w8.coefficients.inv_flops)  # bf16 rate
    assert w8a16.layout.describe() == "TP8 int8-w"


def test_attention_dp_of_a_moe_run_gives_each_chip_its_scheduler_and_attention_copy() -> None:
    """Row 107: TensorRT-LLM's perf table runs its MoE models with attention DP ("MoE models use
    attention-DP/EP"); Qwen3-235B (GQA, not MLA) then has one scheduler and batch cap per chip and a full copy of
    the attention weights on each. The same note on a dense row changes nothing."""
    from tokenfleet import perf
    from tokenfleet.perf.devices import hbm
    from tokenfleet.perf.steady import MAX_BATCH_SEQS

    qwen = ROWS[107]
    assert "attention-DP" in qwen.notes and published.run_config(qwen).attention_dp
    assert not published.run_config(ROWS[105]).attention_dp  # Llama 3.3 70B from the same table
    assert published.run_config(_row("SGLang --enable-dp-attention", model_id="deepseek-r1")).attention_dp
    m, hw = catalog.model("qwen3-235b-a22b"), catalog.hardware("b200")
    tp, adp = perf.Layout(8, 8, 1, "fp4", "fp8"), perf.Layout(8, 8, 1, "fp4", "fp8", attention_dp=True)
    dev = perf.devices.device_for(hw)
    assert (dev.schedulers(m, tp), dev.schedulers(m, adp)) == (1, 8)
    copy = m.n_layers * m.attn_params_per_layer  # fp8 attention weights of a 4-bit MoE checkpoint: 1 byte each
    assert hbm.attention_dp_extra_bytes(m, adp) == pytest.approx(7 * copy)
    assert hbm.attention_dp_extra_bytes(m, tp) == 0.0
    assert perf.deploy(m, hw, adp).coefficients.dense_bytes == pytest.approx(
        perf.deploy(m, hw, tp).coefficients.dense_bytes + 7 * copy)
    assert adp.describe() == "TP8 fp4/kv-fp8 attn-DP"
    pred = predict(qwen)
    assert "attn-DP" in pred.layout and pred.predicted is not None
    assert MAX_BATCH_SEQS < int(pred.layout.rsplit("B=", 1)[1]) <= 8 * MAX_BATCH_SEQS
