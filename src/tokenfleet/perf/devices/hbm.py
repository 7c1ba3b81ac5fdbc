"""HBM devices (GPUs, TPUs, Trainium): a roofline of FLOPs against bytes moved, plus collectives.

A step costs ``max(GEMM compute, weight reads) + max(attention compute, KV reads) + collectives + per-step
overhead + per-sequence overhead`` (the weight GEMMs and attention are separate kernels, each bound by its own
compute or memory traffic: a large decode batch's KV reads do not hide behind its compute-bound GEMMs):

* compute: dense GEMMs at ``flops_eff`` of the kernels' real rate (:func:`base.compute_precision`), with tile
  under-fill ``m / (m + gemm_m_half)`` for ``m`` rows — on tensor cores (``matmul_unit``) a GEMM of fewer rows than
  one 64-row MMA tile pays that share of the ``gemm_m_half`` rows (small-M kernels run at the weight reads), on a
  systolic array all of them (it loads a whole weight tile whatever the rows); routed experts as a grouped GEMM over
  the experts the batch *touches*: ``E_t = E (1 - (1 - k/E) ** tokens)`` experts with ``tokens * k / E_t`` rows
  each, padded by ``expert_m_half`` (at most the 8-row granularity of the small-M kernels decode uses), so a batch
  of one pays one expert's padding per routed expert, not ``E / k`` of them. Every (token, expert) pair of a
  *decoding* token (decode steps, speculative verify tokens) adds ``expert_pair_flops`` at the experts' kernel rate
  to its matmul FLOPs (routing, permutation to and from expert order, activation quantisation, the small-M grouped
  GEMM's tile scheduling over experts holding a few rows each): fine-grained experts pay it on little work (gpt-oss
  50 MFLOP a pair, DeepSeek 90, Qwen3 38) and large ones on much (Mixtral 350), which one per-FLOP efficiency could
  not tell apart. A prefill chunk's tokens do not pay it: a chunk of thousands of tokens gives each expert hundreds
  of rows, GEMMs at the experts' rate (with the overhead on every prompt token too, InferenceMAX's gpt-oss-120b runs
  with 8k-token prompts were predicted 43-58 % low and its 1k-token ones 4-29 % high on B200, H100 and H200: a
  prompt of 8,192 tokens cost ~250 ms on two B200s against ~20 ms of FLOPs). Fitted, it is ~700 MFLOP on
  Blackwell and ~870 on Hopper: the same work at each generation's rate. A
  MoE decode step at tens of users is bound by the touched experts' weight reads, not by a fixed compute cost
  (SemiAnalysis InferenceMAX: gpt-oss-120b on one B200, 3.8 ms per token at 4 users, 14.3 ms at 128).
* memory: weights read once per step (routed experts in proportion to those touched), KV of every context
  token, sliding-window layers' fixed window.
* collectives over the scale-up link: two all-reduces per layer under tensor parallelism, dispatch and
  combine all-to-alls per MoE layer under expert parallelism, activations between pipeline stages
  (scale-out network between scale-up domains).
* MLA models (DeepSeek) run attention data-parallel across the replica's chips (DeepSeek's own serving,
  SGLang and TensorRT-LLM "attention DP"): each chip keeps the latent KV of its own sequences (no copy per
  tensor-parallel rank) and a full copy of the attention weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec
from tokenfleet.perf.devices.base import (
    ACT_BYTES,
    StepCoefficients,
    rate_weighted_flops,
    read_bytes_per_step,
    window_terms,
)

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams

# below one tensor-core MMA tile of rows a GEMM runs as a memory-bound small-M kernel (swap-AB, GEMV): the
# tile inefficiency gemm_m_half describes full tiles (StepCoefficients.small_m_rows)
MMA_TILE_ROWS = 64.0
HBM_USABLE_FRAC = 0.90  # of HBM left for weights + KV after the runtime, activations and fragmentation
INTER_NODE_GBPS = 50.0  # per-GPU scale-out bandwidth (400 Gb/s NIC) when a layout leaves its scale-up domain


def attention_dp(model: ModelSpec, layout: Layout, mla: bool = True) -> bool:
    """Attention runs data-parallel: MLA models always where the family serves them so (``mla``: their latent
    KV is not split by heads), others where the run enables it (``Layout.attention_dp``)."""
    return (mla and model.is_mla) or layout.attention_dp


def attention_dp_extra_bytes(model: ModelSpec, layout: Layout, mla: bool = True) -> float:
    """Extra resident bytes when attention runs data-parallel: n - 1 more copies of the attention weights."""
    if not attention_dp(model, layout, mla) or layout.num_chips == 1:
        return 0.0
    attn_prec = "fp8" if layout.weight_precision in ("fp4", "int4") else layout.weight_precision
    return (layout.num_chips - 1) * model.attention_params * BYTES_PER_PARAM[attn_prec]


class HBMDevice:
    name: str = "hbm"
    unit: str = "chips"
    draft_has_own_units: bool = False
    # MLA models run attention data-parallel (throughput serving: DeepSeek's own, SGLang, TensorRT-LLM); a
    # family that runs them tensor-parallel keeps one copy of the attention weights and a copy of the latent
    # KV per rank
    mla_attention_dp: bool = True
    # expert_eff is not fitted: where every MoE model's rows are in, the fit puts it at 1.0 (the experts'
    # GEMMs at the dense kernels' rate; the per-pair overhead carries their extra cost), and without a
    # large-expert model (Mixtral left out) it trades against expert_pair_flops and mispredicts that model
    fit_params: tuple[str, ...] = ("flops_eff", "step_overhead_s", "gemm_m_half", "expert_m_half",
                                   "expert_pair_flops", "seq_overhead_s", "software_gain_per_year",
                                   "moe_software_gain_per_year")

    def usable_bytes(self, hw: HardwareSpec, num_chips: int) -> float:
        return num_chips * hw.memory_gb * 1e9 * HBM_USABLE_FRAC

    def kv_replication(self, model: ModelSpec, layout: Layout) -> int:
        """Tensor-parallel MLA attention keeps the whole latent KV on every rank (it is not split by heads)."""
        return layout.tp if model.is_mla and not attention_dp(model, layout, self.mla_attention_dp) else 1

    def extra_resident_bytes(self, model: ModelSpec, layout: Layout) -> float:
        return attention_dp_extra_bytes(model, layout, self.mla_attention_dp)

    def schedulers(self, model: ModelSpec, layout: Layout) -> int:
        """Attention data parallelism (MLA models, or a run that enables it) runs one scheduler per chip, each
        with its own batch cap (TensorRT-LLM's ``max_batch_size`` is per rank under ``enable_attention_dp``);
        else one per replica."""
        return layout.num_chips if attention_dp(model, layout, self.mla_attention_dp) else 1

    def default_kv_precision(self, weight_precision: str) -> str:
        return "fp8" if weight_precision in ("fp8", "fp4") else weight_precision

    def round_up(self, hw: HardwareSpec, num_chips: int) -> int:
        return 1 << (num_chips - 1).bit_length()

    def shape(self, hw: HardwareSpec, num_chips: int, weight_precision: str, kv_precision: str,
              tp: int | None = None, pp: int | None = None) -> Layout:
        from tokenfleet.perf.layout import Layout
        if tp is None:
            tp = min(num_chips, hw.scaleup_domain)
            while num_chips % tp:
                tp -= 1
        pp = pp or max(1, num_chips // tp)
        return Layout(num_chips, tp, pp, weight_precision, kv_precision)

    def next_sizes(self, hw: HardwareSpec, first: int, limit: int | None) -> list[int]:
        limit = limit or max(first * 4, hw.scaleup_domain)
        out, n = [], first * 2
        while n <= limit:
            out.append(n)
            n *= 2
        return out

    def coefficients(self, model: ModelSpec, hw: HardwareSpec, layout: Layout,
                     params: EfficiencyParams) -> StepCoefficients:
        p, n = params, layout.num_chips
        dense_flops, expert_flops, cprec = rate_weighted_flops(model, hw, layout.weight_precision, layout.weight_only)
        dense_bytes, expert_bytes = read_bytes_per_step(model, layout.weight_precision)
        dense_bytes += attention_dp_extra_bytes(model, layout, self.mla_attention_dp)
        k = model.n_active_experts
        kv_bytes = (model.kv_elements_per_token() * BYTES_PER_PARAM[layout.kv_precision]
                    * self.kv_replication(model, layout))
        w_flops, w_bytes = window_terms(model, layout.kv_precision)
        attn_prec = "bf16" if layout.kv_precision in ("fp4", "int4") else layout.kv_precision
        comm_fixed, comm_tok = _collectives(model, hw, layout, p)
        rate = hw.tflops(cprec) * 1e12 * p.flops_eff
        expert_gemm = expert_flops / p.expert_eff
        return StepCoefficients(
            dense_mm_flops=dense_flops, m_half=p.gemm_m_half, expert_mm_flops=expert_gemm,
            expert_fill=p.expert_m_half * model.n_experts / k if model.is_moe else 0.0,
            # the per-pair overhead is paid per routed decoding token, not per padded row nor by prefill chunks
            expert_pair_flops=k * model.n_moe_layers * p.expert_pair_flops if model.is_moe else 0.0,
            miss=1.0 - k / model.n_experts if model.is_moe else 0.0,
            attn_flops=model.attn_flops_per_context_token(),
            inv_flops=1.0 / (n * rate),
            inv_attn_flops=1.0 / (n * hw.tflops(attn_prec) * 1e12 * p.flops_eff),
            dense_bytes=dense_bytes, expert_bytes=expert_bytes, kv_bytes=kv_bytes,
            inv_bw=1.0 / (n * hw.memory_bw_tbps * 1e12 * p.bw_eff),
            comm_fixed_s=comm_fixed, comm_per_token_s=comm_tok, window_flops=w_flops, window_bytes=w_bytes,
            latency_floor_s=p.step_overhead_s, seq_overhead_s=p.seq_overhead_s, overlap=True,
            host_overhead_s=p.step_overhead_s, micro_batches=layout.pp,
            small_m_rows=MMA_TILE_ROWS if hw.matmul_unit == "tensor-core" else 0.0)


def _collectives(model: ModelSpec, hw: HardwareSpec, lay: Layout, p: EfficiencyParams) -> tuple[float, float]:
    """Per-step collective cost as fixed latency + seconds per token processed."""
    if lay.num_chips == 1:
        return 0.0, 0.0
    m = model
    # tensor- and expert-parallel groups stay inside one scale-up domain (NVLink, Infinity Fabric, ICI);
    # only pipeline hops between domains fall back to the scale-out network
    link_bps = hw.scaleup_bw_gbps * 1e9 * p.link_eff
    hop_bps = (hw.scaleup_bw_gbps if lay.num_chips <= hw.scaleup_domain else INTER_NODE_GBPS) * 1e9 * p.link_eff
    fixed = per_tok = 0.0
    if lay.tp > 1:  # two all-reduces per layer (attention out, FFN out); ring volume 2 (tp-1)/tp
        n_coll = 2 * m.n_layers
        fixed += n_coll * p.collective_latency_s
        per_tok += n_coll * 2 * (lay.tp - 1) / lay.tp * m.hidden * ACT_BYTES / link_bps / lay.pp
    if m.is_moe:  # dispatch + combine all-to-all per MoE layer, spread over n links
        n = lay.num_chips
        copies = min(m.n_active_experts, n) * (n - 1) / n  # remote destinations of one token
        fixed += 2 * m.n_moe_layers * p.collective_latency_s
        per_tok += 2 * m.n_moe_layers * copies * m.hidden * ACT_BYTES / (n * (link_bps if n <= hw.scaleup_domain
                                                                               else hop_bps))
    if lay.pp > 1:
        fixed += (lay.pp - 1) * p.collective_latency_s
        per_tok += (lay.pp - 1) * m.hidden * ACT_BYTES / hop_bps
    return fixed, per_tok
