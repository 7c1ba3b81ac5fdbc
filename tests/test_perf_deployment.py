"""Step-time physics checked by hand on a tiny model, memory fit, and monotonicity."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from tokenfleet import catalog, perf
from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.errors import LayoutError
from tokenfleet.perf import EfficiencyParams, Layout

TINY = ModelSpec(model_id="tiny", name="tiny", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16,
                 ffn_dim=128, vocab=100, max_context=1024, published_total_params=0, published_active_params=0,
                 source_url="test")
CHIP = HardwareSpec(hw_id="unit", vendor="Test", name="unit", family="hbm", form="chip",
                    dense_tflops={"bf16": 1.0}, memory_gb=1.0, memory_bw_tbps=1.0, scaleup_bw_gbps=100.0,
                    scaleup_domain=8, chip_power_w=100.0, chips_per_system=1, system_power_w=150.0,
                    price_usd=1.0, calibration_group="none", year=2024, source_url="test")
IDEAL = EfficiencyParams(flops_eff=1.0, bw_eff=1.0, step_overhead_s=0.0, gemm_m_half=0.0, seq_overhead_s=0.0,
                         idle_power_frac=0.2)


def test_tiny_model_parameter_count_by_hand() -> None:
    attn = 64 * 64 + 2 * 64 * 32 + 64 * 64  # q, k+v (2 kv heads x 16), o
    ffn = 3 * 64 * 128
    emb = 2 * 100 * 64
    assert TINY.total_params == 2 * (attn + ffn) + emb
    assert TINY.kv_elements_per_token() == 2 * 2 * 2 * 16  # layers x (k, v) x kv heads x head dim
    assert TINY.attn_flops_per_context_token() == 4 * 2 * 4 * 16


def test_step_time_is_the_roofline_of_each_kernel_of_hand_counted_flops_and_bytes() -> None:
    """Weight GEMMs and attention are separate kernels, one after the other: each is bound by its own compute
    or its own memory traffic, and the step is their sum."""
    dep = perf.Deployment(TINY, CHIP, Layout(1, weight_precision="bf16", kv_precision="bf16"), IDEAL)
    matmul_params = TINY.total_params - 100 * 64  # the input embedding is a lookup, not a matmul
    # decode: 8 sequences with 800 tokens of context in all
    gemm = max(2 * matmul_params * 8, 2 * matmul_params) / 1e12  # FLOPs vs bf16 weights read once
    attn = max(4 * 2 * 4 * 16 * 800, 2 * 128 * 800) / 1e12  # FLOPs vs bf16 KV of the context
    assert dep.step_time(0, 8, 800) == pytest.approx(gemm + attn, rel=1e-12)
    # prefill of one 50-token prompt: attention pairs 50*50/2, KV written for 50 tokens
    gemm = max(2 * matmul_params * 50, 2 * matmul_params) / 1e12
    attn = max(4 * 2 * 4 * 16 * 1250, 2 * 128 * 50) / 1e12
    assert dep.step_time(50, 0, 0) == pytest.approx(gemm + attn, rel=1e-12)
    assert dep.step_time(0, 0, 0) == 0.0


def test_memory_bound_attention_adds_to_compute_bound_gemms() -> None:
    """A large decode batch over long contexts on a chip with 10 FLOPs per byte: the GEMMs are compute-bound,
    the KV reads (2 FLOPs per byte of GQA attention) memory-bound, and they cannot hide behind each other (one
    roofline over the step's totals would hide the KV reads and be too fast)."""
    fast = dataclasses.replace(CHIP, dense_tflops={"bf16": 10.0})
    dep = perf.Deployment(TINY, fast, Layout(1, weight_precision="bf16", kv_precision="bf16"), IDEAL)
    seqs, ctx = 4096, 4096 * 2_000
    matmul_params = TINY.total_params - 100 * 64
    gemm = 2 * matmul_params * seqs / 10e12  # compute-bound: 4,096 rows
    kv = 2 * 128 * ctx / 1e12  # memory-bound: 256 bytes (128 bf16 elements) per context token, 512 FLOPs
    assert 4 * 2 * 4 * 16 * ctx / 10e12 < kv
    assert dep.step_time(0, seqs, ctx) == pytest.approx(gemm + kv, rel=1e-9)
    c = dep.step(0, seqs, ctx)
    assert c.time_s > max(c.compute_s, c.memory_s) + 0.5 * gemm


def test_power_is_idle_floor_plus_linear_dynamic_part() -> None:
    dep = perf.Deployment(TINY, CHIP, Layout(1), IDEAL)
    idle, peak = dep.idle_power_w, dep.peak_power_w
    assert 0 < idle < peak
    assert dep.power_w(0.0) == pytest.approx(idle) and dep.power_w(1.0) == pytest.approx(peak)
    assert dep.power_w(0.5) == pytest.approx((idle + peak) / 2)  # linear in activity
    assert dep.power_w(-1.0) == pytest.approx(idle) and dep.power_w(2.0) == pytest.approx(peak)
    assert perf.power.facility_w(1000.0, 1.25) == 1250.0


def test_llama_70b_bf16_does_not_fit_one_h100() -> None:
    with pytest.raises(LayoutError) as err:
        perf.deploy("llama-3.1-70b", "h100", Layout(1, weight_precision="bf16", kv_precision="bf16"))
    assert err.value.needed_bytes > 141e9 > err.value.available_bytes
    assert "needs" in str(err.value) and "GB" in str(err.value)


def test_llama_70b_bf16_needs_four_cs3_systems() -> None:
    m, hw = catalog.model("llama-3.1-70b"), catalog.hardware("cs3")
    assert hw.memory_gb == 44.0
    lay = perf.min_layout(m, hw, "bf16")
    assert lay.num_chips == 4 and lay.pp == 4
    with pytest.raises(LayoutError):
        perf.deploy(m, hw, Layout(3, 1, 3, "bf16", "bf16"))
    dep = perf.deploy(m, hw, lay)
    # SRAM left for KV: 4 x 44 GB x 95% usable minus 141 GB of weights, at 327,680 bytes per token
    expected = int((4 * 44e9 * 0.95 - m.total_params * 2) / 327_680)
    assert dep.kv_capacity_tokens == expected


@pytest.mark.parametrize("model_id,hw_id,prec", [("llama-3.1-70b", "h100", "fp8"), ("llama-3.1-405b", "b200", "fp4"),
                                                 ("deepseek-r1", "gb200", "fp4"), ("qwen3-32b", "mi300x", "bf16")])
def test_more_chips_never_slower_per_step(model_id: str, hw_id: str, prec: str) -> None:
    m, hw = catalog.model(model_id), catalog.hardware(hw_id)
    layouts = perf.candidate_layouts(m, hw, prec, max_chips=64)
    assert len(layouts) >= 2
    for batch in ((0, 1, 2000), (0, 64, 64 * 1500), (4096, 32, 32 * 1000)):
        times = [perf.deploy(m, hw, lay).step_time(*batch) for lay in layouts]
        for (la, a), (lb, b) in itertools.pairwise(zip(layouts, times, strict=True)):
            if batch[0] == 0 and lb.pp > la.pp:
                # a decode step's micro-batches cross every pipeline stage in turn: a deeper pipeline slows it by
                # no more than its stage-to-stage hops (1 %); one sequence it does not speed up either (a larger
                # batch's compute-bound GEMMs it may: more chips)
                assert b <= a * 1.01, (la, lb, a, b)
                if batch[1] == 1:
                    assert a * 0.99 <= b, (la, lb, a, b)
            else:
                assert b <= a * (1 + 1e-9), (la, lb, a, b)


@pytest.mark.parametrize("model_id,hw_id", [("llama-3.1-8b", "h100"), ("llama-3.3-70b", "cs3"),
                                            ("gpt-oss-120b", "b200"), ("llama-3.1-8b", "groq-lpu")])
def test_longer_context_never_faster(model_id: str, hw_id: str) -> None:
    dep = perf.deploy(model_id, hw_id)
    for seqs in (1, 16):
        times = [dep.step_time(0, seqs, seqs * ctx) for ctx in (0, 100, 1000, 4000, 8000)]
        assert times == sorted(times) and times[-1] > times[0]
    prefill = [perf.single.prefill_s(dep, n) for n in (10, 100, 1000, 4000)]
    assert prefill == sorted(prefill)


def test_dataflow_step_is_latency_floor_plus_work() -> None:
    from tokenfleet.perf.devices.wafer import mesh_reduce_s, system_hop_s
    dep = perf.deploy("llama-3.3-70b", "cs3")
    p, m, hw = dep.params, dep.model, dep.hw
    # PLMR: per layer the fixed latency + mesh reductions; every core streams its weight slice once;
    # three physically sized system-to-system hops (switch + 16 KB of activations over 150 GB/s)
    stream = 20 * 2 * m.total_params / (21_000e12 * p.bw_eff)
    floor = 80 * (p.layer_latency_s + mesh_reduce_s(m, hw, dep.layout)) + stream + 3 * system_hop_s(m, hw)
    assert system_hop_s(m, hw) == pytest.approx(2e-6 + 8192 * 2 / 150e9)
    assert dep.coefficients.latency_floor_s == pytest.approx(floor, rel=1e-9)
    t1 = dep.step_time(0, 1, 1000)
    assert floor < t1 < floor * 1.5  # one user: the pipeline latency dominates
    assert dep.step_time(0, 256, 256 * 1000) > 1.5 * t1  # a big batch adds its work spread over the wafers


def test_moe_reads_more_expert_weights_as_the_batch_grows() -> None:
    dep = perf.deploy("qwen3-235b-a22b", "h200", weight_precision="fp8")
    small, large = dep.step(0, 1, 1000), dep.step(0, 512, 512 * 1000)
    assert small.memory_s < large.memory_s
    m = dep.model
    # one token touches k of E experts per layer: weights read = dense part (fp8, 16-bit output head; the
    # input embedding is a lookup) + k/E of the expert weights (fp8) + fp8 KV of 1000 context tokens
    embed = m.vocab * m.hidden
    dense = (m.total_params - m.expert_params_total - 2 * embed) * 1.0 + embed * 2.0
    expected = dense + m.expert_params_total * 8 / 128 + 1000 * m.kv_elements_per_token()
    assert small.memory_s == pytest.approx(expected * dep.coefficients.inv_bw, rel=1e-9)
