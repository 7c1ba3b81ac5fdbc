"""Device families behind one protocol: registry, placement, and each family's physics checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokenfleet import catalog, perf
from tokenfleet.perf import devices
from tokenfleet.perf.devices import base, hbm, wafer
from tokenfleet.perf.layout import served_precision


def test_every_catalog_entry_has_a_registered_family() -> None:
    for hw in catalog.all_hardware():
        dev = devices.device_for(hw)
        assert dev.name == hw.family and dev is devices.REGISTRY[hw.family]
        assert set(dev.fit_params) <= {f for f in perf.EfficiencyParams.__dataclass_fields__}
    fam = {h: devices.device_for(catalog.hardware(h)) for h in ("h100", "cs3", "groq-lpu", "sn40l", "trn2")}
    assert [fam[h].draft_has_own_units for h in fam] == [False, True, True, False, False]
    assert fam["cs3"].unit == "systems" and fam["h100"].unit == "chips"


def test_moe_batch_one_pays_one_expert_fill_per_routed_expert_not_e_over_k() -> None:
    # issue 10 (1): m = tokens x k / E << 1 turned a memory-bound step into a compute-bound one
    dep = perf.deploy("deepseek-r1", "b200", perf.Layout(8, 8, 1, "fp4", "fp8"))
    c, p = dep.coefficients, dep.params
    cost = dep.step(0, 1, 1500)
    # compute of one token: dense GEMMs with a 64th of m_half's padding rows (one row of a 64-row MMA tile:
    # small-M kernels on tensor cores); its 8 (token, expert) pairs, each with its matmul FLOPs and the
    # per-pair overhead; each of its 8 experts' GEMMs padded to expert_m_half rows
    m = dep.model
    gemm = 2.0 * m.n_moe_layers * 8 * m.expert_params / p.expert_eff
    pairs = 8 * m.n_moe_layers * p.expert_pair_flops
    assert c.expert_mm_flops == pytest.approx(gemm, rel=1e-9)
    assert c.expert_pair_flops == pytest.approx(pairs, rel=1e-9)  # paid by decoding tokens
    assert c.small_m_rows == hbm.MMA_TILE_ROWS == 64
    expected = (c.dense_mm_flops * (1 + p.gemm_m_half / 64) + gemm + pairs + gemm * p.expert_m_half
                ) * c.inv_flops + c.attn_flops * 1500 * c.inv_attn_flops
    assert cost.compute_s == pytest.approx(expected, rel=1e-9)
    assert cost.memory_s > cost.compute_s  # a decode step of one user is bound by the bytes it reads
    assert 1 / cost.time_s > 100  # hundreds of tok/s per user on one 8-GPU node, not 12-23


def test_moe_per_pair_overhead_is_paid_by_decoding_tokens_not_by_a_prefill_chunk() -> None:
    """A decode step routes each expert a few rows (small-M grouped GEMMs: the per-pair overhead); a prefill
    chunk of thousands of tokens gives each expert hundreds of rows at the experts' rate. InferenceMAX's 8k-token
    prompts on gpt-oss-120b were predicted 43-58 % low with the overhead on every prompt token."""
    dep = perf.deploy("gpt-oss-120b", "b200", perf.Layout(2, 2, 1, "fp4", "fp8"))
    c = dep.coefficients
    assert c.expert_pair_flops > 0
    pair_s = c.expert_pair_flops * c.inv_flops  # seconds per decoding token
    chunk = dep.step(8192, 0, 0)
    # a prompt's GEMMs: its FLOPs at the kernels' rate (and padding), no per-pair term
    gemm_s = (c.dense_mm_flops * (8192 + c.m_half) + c.expert_mm_flops * (8192 + c.expert_fill)) * c.inv_flops
    assert chunk.compute_s - c.attn_flops * 0.5 * 8192 ** 2 * c.inv_attn_flops == pytest.approx(
        gemm_s + c.window_flops * 8192 * c.inv_attn_flops, rel=1e-6)
    assert chunk.time_s < 0.1  # ~84 TFLOP of prompt on two B200s: tens of ms, not the ~250 ms it once cost
    # decoding tokens pay it: 64 decodes cost their GEMMs plus 64 x the per-pair term
    d64, d64_free = dep.step(0, 64, 64 * 1500), dep.step(0, 64, 64 * 1500, decoding=0)
    assert d64.compute_s - d64_free.compute_s == pytest.approx(64 * pair_s, rel=1e-9)
    # and so do a speculative round's verified tokens (decoding tokens checked in one pass)
    spec = perf.SpecDecode(perf.deploy("gpt-oss-20b", "b200", perf.Layout(1, 1, 1, "fp4", "fp8")), 3, 0.7)
    verify = perf.speculative.round_cost(dep, spec, 8, 1500).verify
    as_prompt = dep.step(8 * 4, 0, 8 * 1500, 8 * 4 * (1500 + 1.5) - 8 * 1500)
    assert verify.compute_s - as_prompt.compute_s == pytest.approx(8 * 4 * pair_s, rel=1e-9)


def test_tensor_cores_run_small_batches_memory_bound_and_systolic_arrays_pay_a_whole_tile() -> None:
    """Below one 64-row MMA tile a GPU GEMM's m_half rows of tile inefficiency shrink with its rows (small-M
    kernels: Vidur's H100 profile is flat at the weight reads from 1 to 64 tokens); a systolic array (Trainium,
    TPU) loads a whole weight tile whatever the rows and pays them in full."""
    b200, h200 = catalog.hardware("b200"), catalog.hardware("h200")
    lay = perf.Layout(1, 1, 1, "fp8", "fp8")
    on_b200 = perf.deploy("llama-3.3-70b", b200, lay)
    c = on_b200.coefficients
    for rows, pad_rows in ((1, 1 / 64), (32, 0.5), (64, 1.0), (512, 1.0)):
        step = on_b200.step(0, rows, rows * 1000)
        assert step.padding_s == pytest.approx(c.dense_mm_flops * c.m_half * pad_rows * c.inv_flops, rel=1e-9)
    one = on_b200.step(0, 1, 1000)
    assert one.memory_s > one.compute_s  # a decode step of one user reads its weights, it does not pad tiles
    # so at batch 1 the B200 is faster than the H200 by about its HBM bandwidth (8.0 against 4.8 TB/s)
    on_h200 = perf.deploy("llama-3.3-70b", h200, lay)
    ratio = on_h200.step_time(0, 1, 1000) / on_b200.step_time(0, 1, 1000)
    assert 1.4 < ratio < b200.memory_bw_tbps / h200.memory_bw_tbps * 1.05
    trn2 = perf.deploy("llama-3.1-8b", "trn2")
    t = trn2.coefficients
    assert catalog.hardware("trn2").matmul_unit == "systolic" and t.small_m_rows == 0.0
    assert trn2.step(0, 1, 1000).padding_s == pytest.approx(t.dense_mm_flops * t.m_half * t.inv_flops, rel=1e-9)


def test_per_pair_overhead_weighs_on_fine_grained_experts_and_adds_no_padding() -> None:
    """Each routed (token, expert) pair of a decoding token adds ``expert_pair_flops`` to its matmul FLOPs: a
    model of small experts (Qwen3: 38 MFLOP a pair) pays a larger share of its decode expert work in overhead than
    one of large experts (Mixtral: 350 MFLOP a pair). Padding rows are empty rows of the GEMM and carry none."""
    p = perf.EfficiencyParams(expert_eff=1.0, expert_pair_flops=2e8, expert_m_half=8.0)
    share = {}
    for model_id in ("qwen3-235b-a22b", "mixtral-8x7b"):
        dep = perf.deploy(model_id, "b200", perf.Layout(8, 8, 1, "fp4", "fp8"), params=p)
        m, c = dep.model, dep.coefficients
        gemm = 2.0 * m.n_moe_layers * m.n_active_experts * m.expert_params
        assert c.expert_mm_flops == pytest.approx(gemm, rel=1e-9)
        assert c.expert_pair_flops == pytest.approx(m.n_moe_layers * m.n_active_experts * 2e8, rel=1e-9)
        # padding of the touched experts: expert_m_half rows of one expert's GEMM each
        assert c.expert_mm_flops * c.expert_fill == pytest.approx(gemm * 8.0 * m.n_experts / m.n_active_experts,
                                                                  rel=1e-9)
        share[model_id] = c.expert_pair_flops / (gemm + c.expert_pair_flops)
    assert share["qwen3-235b-a22b"] > 0.8 > 0.5 > share["mixtral-8x7b"] > 0.3
    # with no overhead the expert FLOPs are the matmuls' alone
    dep0 = perf.deploy("mixtral-8x7b", "b200", perf.Layout(8, 8, 1, "fp4", "fp8"),
                       params=p.replace(expert_pair_flops=0.0))
    assert dep0.coefficients.expert_mm_flops == pytest.approx(
        2.0 * dep0.model.n_moe_layers * 2 * dep0.model.expert_params, rel=1e-9)
    assert dep0.coefficients.expert_pair_flops == 0.0


def test_touched_experts_follow_the_occupancy_formula() -> None:
    dep = perf.deploy("qwen3-235b-a22b", "h200", weight_precision="fp8")
    c = dep.coefficients
    for tokens in (1, 16, 256):
        touched = 1 - (1 - 8 / 128) ** tokens
        mem = dep.step(0, tokens, 0).memory_s
        assert mem == pytest.approx((c.dense_bytes + c.expert_bytes * touched) * c.inv_bw, rel=1e-9)


@pytest.mark.parametrize(("model_id", "hw_id", "prec", "want"), [
    ("gpt-oss-120b", "b200", "fp4", "fp8"),  # MXFP4 release: W4A8 kernels on Blackwell
    ("gpt-oss-120b", "h200", "fp4", "bf16"),  # no fp4 units on Hopper: dequantised W4A16
    ("llama-2-70b", "b200", "fp4", "fp4"),  # NVFP4 checkpoint: fp4 tensor cores
    ("llama-2-70b", "h100", "fp8", "fp8"),
    ("llama-3.1-70b", "mi300x", "fp4", "bf16"),
])
def test_kernel_precision_is_the_real_rate(model_id: str, hw_id: str, prec: str, want: str) -> None:
    assert base.compute_precision(catalog.model(model_id), catalog.hardware(hw_id), prec) == want


def test_mxfp4_release_keeps_non_expert_weights_in_bf16() -> None:
    m = catalog.model("gpt-oss-120b")
    dense, expert = base.weight_bytes_split(m, "fp4")
    assert expert == pytest.approx(m.expert_params_total * 0.5)
    assert dense == pytest.approx((m.total_params - m.expert_params_total) * 2.0)
    # a 4-bit DeepSeek-R1 checkpoint quantises the experts only: attention stays in its released fp8
    ds = catalog.model("deepseek-r1")
    dense, _ = base.weight_bytes_split(ds, "fp4")
    emb = ds.embedding_params
    assert dense == pytest.approx((ds.total_params - ds.expert_params_total - emb) * 1.0 + emb * 2.0)


def test_sliding_window_layers_read_a_fixed_window_and_count_sinks() -> None:
    m = catalog.model("gpt-oss-120b")
    flops, kv = base.window_terms(m, "fp8")
    assert kv == 18 * 2 * 8 * 64 * 128  # 18 window layers x (k, v) x 8 KV heads x 64 x 128 tokens, 1 byte
    assert flops == 18 * (4 * 64 * 64 * 128 + 2 * 64)  # QK^T and AV over the window + one sink logit per head
    assert m.kv_elements_per_token() == 18 * 2 * 8 * 64  # only the full-attention layers grow with context
    dep = perf.deploy(m, "b200", weight_precision="fp4")
    assert dep.step_time(0, 64, 64 * 100) < dep.step_time(0, 64, 64 * 10_000)


def test_mla_runs_attention_data_parallel() -> None:
    m, hw = catalog.model("deepseek-r1"), catalog.hardware("b200")
    lay = perf.Layout(8, 8, 1, "fp4", "fp8")
    extra = hbm.attention_dp_extra_bytes(m, lay)
    assert extra == pytest.approx(7 * 61 * m.attn_params_per_layer * 1.0)  # 7 more fp8 copies
    dep = perf.deploy(m, hw, lay)
    # KV is split by sequence (no copy per rank): capacity = (memory - weights - attention copies) / latent
    free = 8 * 180e9 * 0.9 - perf.layout.weight_bytes(m, "fp4") - extra
    assert dep.kv_capacity_tokens == int(free / (61 * (512 + 64) * 1.0))


def test_wafer_plmr_latency_floor_by_hand() -> None:
    m, hw = catalog.model("llama-3.1-8b"), catalog.hardware("cs3")
    dep = perf.deploy(m, hw)
    p, lay = dep.params, dep.layout
    assert lay.num_chips == 1
    cores_per_layer = 900_000 / 32
    mesh = 4 * 2 * math.sqrt(cores_per_layer) / 1.1e9
    assert wafer.mesh_reduce_s(m, hw, lay) == pytest.approx(mesh)
    stream = 32 * base.resident_weight_bytes(m, "bf16") / (21_000e12 * p.bw_eff)
    assert dep.coefficients.latency_floor_s == pytest.approx(32 * (p.layer_latency_s + mesh) + stream)
    assert not dep.coefficients.overlap


def test_wafer_moe_and_served_precision() -> None:
    cs3, oss = catalog.hardware("cs3"), catalog.model("gpt-oss-120b")
    assert served_precision(oss, cs3) == "fp4"  # gpt-oss is served in its released MXFP4
    assert served_precision(catalog.model("llama-3.3-70b"), cs3) == "bf16"
    assert served_precision(catalog.model("llama-3.3-70b"), catalog.hardware("groq-lpu")) == "int8"
    dep = perf.deploy(oss, cs3)
    assert dep.layout.num_chips == 2  # 61 GB of MXFP4 weights, not 234 GB of bf16
    # one token reads only its 4 of 128 experts per layer
    one = dep.step(0, 1, 1000).memory_s
    c = dep.coefficients
    assert one == pytest.approx((c.dense_bytes + c.expert_bytes * 4 / 128 + 1000 * c.kv_bytes
                                 + c.window_bytes) * c.inv_bw, rel=1e-9)


def test_tiered_streams_weights_from_hbm_on_whole_nodes() -> None:
    m, hw = catalog.model("llama-3.1-405b"), catalog.hardware("sn40l")
    dep = perf.deploy(m, hw)
    assert dep.layout.num_chips == 16 and dep.layout.tp == 16  # one SN40L-16 node, tensor parallel
    c = dep.coefficients
    assert c.overlap and c.latency_floor_s == pytest.approx(126 * dep.params.layer_latency_s)
    # a decode step of one user is bound by HBM: 810 GB of bf16 weights over 16 x 1.6 TB/s
    assert dep.step(0, 1, 1000).memory_s == pytest.approx(
        (c.dense_bytes + 1000 * c.kv_bytes) * c.inv_bw, rel=1e-9)
    assert c.inv_bw == pytest.approx(1 / (16 * 1.6e12 * dep.params.bw_eff))


def test_tiered_runs_mla_attention_tensor_parallel_and_gpus_data_parallel() -> None:
    r1 = catalog.model("deepseek-r1")
    sn40l, h200 = catalog.hardware("sn40l"), catalog.hardware("h200")
    tiered, gpu = devices.device_for(sn40l), devices.device_for(h200)
    lay16 = tiered.shape(sn40l, 16, "fp8", "fp8")
    lay8 = gpu.shape(h200, 8, "fp8", "fp8")
    # SN40L: one copy of the attention weights, the latent KV on every socket, one scheduler per replica
    assert tiered.extra_resident_bytes(r1, lay16) == 0.0
    assert tiered.kv_replication(r1, lay16) == 16 and tiered.schedulers(r1, lay16) == 1
    # GPUs: attention data-parallel, a copy of the attention weights per GPU, KV not replicated
    copies = 7 * r1.n_layers * r1.attn_params_per_layer  # fp8: one byte a parameter
    assert gpu.extra_resident_bytes(r1, lay8) == pytest.approx(copies)
    assert gpu.kv_replication(r1, lay8) == 1 and gpu.schedulers(r1, lay8) == 8
    # a batch of one on the SN40L reads the weights once (its 8 of 256 experts) and 16 copies of its latent KV
    dep = perf.Deployment(r1, sn40l, lay16)
    c = dep.coefficients
    dense, expert = base.read_bytes_per_step(r1, "fp8")
    assert c.dense_bytes == pytest.approx(dense) and c.expert_bytes == pytest.approx(expert)
    assert c.kv_bytes == pytest.approx(16 * r1.kv_elements_per_token())
    assert dep.step(0, 1, 1000).memory_s == pytest.approx(
        (dense + expert * 8 / 256 + 1000 * c.kv_bytes) * c.inv_bw, rel=1e-9)
    # and its KV capacity is a sixteenth of what one copy per token would leave
    free = 16 * sn40l.memory_gb * 1e9 * hbm.HBM_USABLE_FRAC - base.resident_weight_bytes(r1, "fp8")
    assert dep.kv_capacity_tokens == int(free / (16 * r1.kv_elements_per_token()))


def test_lpu_spans_hundreds_of_chips() -> None:
    dep = perf.deploy("llama-3.3-70b", "groq-lpu")
    assert dep.layout.weight_precision == "int8" and 300 < dep.layout.num_chips < 400
    p = dep.params
    floor = 80 * p.layer_latency_s + (dep.layout.num_chips - 1) * p.hop_latency_s
    assert dep.coefficients.latency_floor_s > floor


def test_lpu_token_streams_its_active_bytes_and_pays_one_token_loop_and_moe_layers_two_stages() -> None:
    gb = 1e9
    hw = catalog.hardware("groq-lpu")
    dense = perf.deploy("llama-3.3-70b", "groq-lpu")
    p = dense.params
    assert p.token_loop_s > 0
    bw = hw.memory_bw_tbps * 1e12 * p.bw_eff
    by_hand = 80 * p.layer_latency_s + (dense.layout.num_chips - 1) * p.hop_latency_s + p.token_loop_s
    dense_bytes = base.resident_weight_bytes(dense.model, "int8")
    assert dense.coefficients.latency_floor_s == pytest.approx(by_hand + dense_bytes / bw, rel=1e-6)
    # gpt-oss-120b: ~60 GB resident (MXFP4 experts) on ~280 chips, but a token streams only ~6 GB: the bf16
    # weights and 4 of 128 experts per layer (the chips holding the others sit that token out); each of its 36
    # MoE layers is two pipeline stages (attention and router, then the experts' chips and back)
    moe = perf.deploy("gpt-oss-120b", "groq-lpu")
    d, e = base.weight_bytes_split(moe.model, moe.layout.weight_precision)
    assert d + e > 50 * gb and d + e * 4 / 128 < 7 * gb
    by_hand = (2 * 36 * p.layer_latency_s + (moe.layout.num_chips - 1) * p.hop_latency_s
               + p.token_loop_s + (d + e * 4 / 128) / bw)
    assert moe.coefficients.latency_floor_s == pytest.approx(by_hand, rel=1e-6)


def test_unknown_family_is_a_clear_error() -> None:
    import dataclasses

    from tokenfleet.errors import InputError
    odd = dataclasses.replace(catalog.hardware("h100"), family="optical")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="family 'optical'"):
        devices.device_for(odd)


def test_vidur_h100_gemm_profile_is_an_independent_check_of_kernel_efficiency() -> None:
    from tokenfleet.perf import kernel_check
    f = kernel_check.fit_gemm_profile()
    assert f.n_points > 200 and f.median_abs_pct_error < 8.0  # the HBM roofline shape fits measured kernels
    assert 0.72 <= f.bw_eff <= 0.88  # small GEMMs are HBM-bound at ~80 % of bandwidth: the family's fixed value
    assert abs(f.bw_eff - perf.params_for("nvidia-hopper", "hbm").bw_eff) < 0.08
    # large GEMMs reach ~80 % of bf16 peak; the end-to-end Hopper fit on MLPerf rows is below it, since it also
    # carries attention, element-wise kernels and engine overheads
    hopper = perf.params_for("nvidia-hopper", "hbm")
    assert 0.7 <= f.flops_eff <= 0.9 and hopper.flops_eff < f.flops_eff
    # by hand at 4,096 rows: 2 x 202.4M params x 4,096 tokens of FLOPs in ~2.2 ms = ~750 TFLOPS achieved
    tokens, seconds = kernel_check.load_profile()
    i = int(np.argmax(tokens))
    achieved = 2 * kernel_check.layer_gemm_params() * tokens[i] / seconds[i] / 1e12
    assert 700 < achieved < 800


def test_a_pipeline_parallel_step_is_its_micro_batches_trips() -> None:
    """TP8 x PP2: the batch runs as 2 micro-batches of half the sequences, each crossing both stages, so a step
    is 2 x a half-batch trip on the n-chip coefficients (weights read once per micro-batch), launch and
    collective latency once. A decode step at small batch is then weight-bound twice over: pipelining does not
    speed a token, while at a large compute-bound batch it costs little."""
    import pickle

    from tokenfleet.perf.deployment import PipelinedDeployment

    m, hw = catalog.model("llama-3.1-405b"), catalog.hardware("h100")
    pp = perf.deploy(m, hw, perf.Layout(16, 8, 2, "fp8", "fp8"))
    flat = perf.deploy(m, hw, perf.Layout(16, 8, 2, "fp8", "fp8"))
    assert isinstance(pp, PipelinedDeployment) and pp.coefficients.micro_batches == 2
    assert type(perf.deploy(m, hw, perf.Layout(8, 8, 1, "fp8", "fp8"))) is perf.Deployment
    fixed = pp.coefficients.comm_fixed_s + pp.coefficients.latency_floor_s
    for decode, ctx in ((8, 8 * 2000), (512, 512 * 2000)):
        trip = perf.Deployment.step_time(flat, 0, decode // 2, ctx // 2)
        assert pp.step_time(0, decode, ctx) == pytest.approx(2 * (trip - fixed) + fixed, rel=1e-12)
    one_stage = perf.Deployment.step_time(flat, 0, 8, 8 * 2000)
    assert pp.step_time(0, 8, 8 * 2000) > 1.6 * one_stage  # small batch: weight-bound, read twice
    assert pp.step_time(0, 512, 512 * 2000) < 1.3 * perf.Deployment.step_time(flat, 0, 512, 512 * 2000)
    assert pp.step_time(0, 0, 0) == 0.0
    again = pickle.loads(pickle.dumps(pp))
    assert isinstance(again, PipelinedDeployment) and again.step_time(0, 8, 16000) == pp.step_time(0, 8, 16000)
    # dataflow pipelines price a token's trip in their own coefficients: no micro-batching on top
    assert perf.deploy("llama-3.3-70b", "cs3", perf.Layout(4, 1, 4, "bf16", "bf16")).coefficients.micro_batches == 1
