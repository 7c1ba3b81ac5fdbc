"""What every device family provides, and the arithmetic of a model's weights that all of them share.

A device family turns (model, hardware entry, layout, efficiency parameters) into :class:`StepCoefficients`,
a handful of floats from which :meth:`tokenfleet.perf.Deployment.step_time` computes a step in a few float
operations. The family also says how much memory a layout has, how a number of units is shaped into a
layout, and whether a speculative draft model needs units of its own. Adding a family is one module
implementing :class:`DeviceFamily` and one line in :data:`tokenfleet.perf.devices.REGISTRY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec

if TYPE_CHECKING:
    from tokenfleet.perf.layout import Layout
    from tokenfleet.perf.params import EfficiencyParams

ACT_BYTES = 2.0  # activations exchanged between chips in bf16


@dataclass(frozen=True, slots=True)
class StepCoefficients:
    """Per-step cost of a replica as coefficients of the batch totals (see ``Deployment.step_time``).

    gemm_compute_s = (dense_mm_flops * (tokens + m_half)
                      + expert_mm_flops * (tokens + expert_fill * touched_fraction)
                      + expert_pair_flops * decoding_tokens) * inv_flops
    gemm_memory_s  = (dense_bytes + expert_bytes * touched_fraction) * inv_bw
    attn_compute_s = (attn_flops * attention_pairs + window_flops * tokens) * inv_attn_flops
    attn_memory_s  = (kv_bytes * context + window_bytes * decode_seqs) * inv_bw
    with touched_fraction = 1 - miss ** tokens, the share of routed experts the batch touches.
    ``overlap`` True: a roofline per kernel group, max(gemm compute, weight reads) + max(attention compute,
    KV reads) + collectives + latency floor (an HBM kernel overlaps its own compute and memory traffic, but
    the weight GEMMs and attention are separate kernels, one after the other); False: latency floor + every
    term (a token crosses a spatial pipeline).
    """

    dense_mm_flops: float  # matmul FLOPs per token on weights every token uses
    m_half: float  # GEMM rows at which dense GEMMs reach half their efficiency
    expert_mm_flops: float  # matmul FLOPs per token in its k routed experts, over their efficiency (expert_eff)
    expert_fill: float  # expert_m_half * n_experts / k: row padding of the touched experts' GEMMs
    miss: float  # probability one token does not route to a given expert (0 for dense models)
    attn_flops: float  # FLOPs per (query token x context token) pair
    inv_flops: float  # seconds per matmul FLOP
    inv_attn_flops: float  # seconds per attention FLOP
    dense_bytes: float  # weight bytes read every step
    expert_bytes: float  # bytes of all routed experts (read in proportion to those touched)
    kv_bytes: float  # KV bytes read per context token per step (replicas included)
    inv_bw: float  # seconds per byte of memory traffic
    comm_fixed_s: float  # collectives per step: latency part
    comm_per_token_s: float  # collectives per step: per token processed
    window_flops: float  # FLOPs per token of attention in sliding-window layers (full window, sinks included)
    window_bytes: float  # KV bytes a decoding sequence reads per step in sliding-window layers
    latency_floor_s: float  # per step: launches / sync (HBM) or the pipeline's traversal latency (dataflow)
    seq_overhead_s: float  # per running sequence per step (scheduling, sampling)
    overlap: bool
    # the part of latency_floor_s an engine pays once per iteration (host scheduling, graph launch): a
    # speculative round runs its draft steps inside the verify iteration and pays it once (HBM); 0 where the
    # floor is the hardware's own traversal latency (dataflow pipelines)
    host_overhead_s: float = 0.0
    # micro-batches of a pipeline-parallel replica (HBM: PP stages; 1 for one stage, and for dataflow devices,
    # whose coefficients already price a token's trip through the pipeline): each micro-batch of
    # batch / micro_batches sequences crosses every stage in turn, so a stage reads its weights once per
    # micro-batch and a token waits for all stages; a step is micro_batches x the micro-batch's time
    micro_batches: int = 1
    # a dense GEMM of fewer rows than this runs memory-bound: its ``m_half`` rows of tile inefficiency shrink
    # in proportion to its rows (GPU small-M kernels: Vidur's H100 GEMM profile is flat at the weight reads
    # from 1 to 64 tokens); 0: every GEMM pays them in full (a systolic array loads a whole weight tile)
    small_m_rows: float = 0.0
    # FLOP-equivalent per decoding token of the MoE layers' per-(token, expert) overhead (k x MoE layers x
    # ``EfficiencyParams.expert_pair_flops``): a decode step (or a speculative verify) routes each expert a
    # few rows, run by small-M grouped-GEMM kernels that pay it; a prefill chunk gives each expert hundreds of
    # rows, whose GEMMs run at the experts' rate (``expert_mm_flops``) without it. 0 for dense models
    expert_pair_flops: float = 0.0


class DeviceFamily(Protocol):
    """One kind of device: how a model is placed on it and what a step costs."""

    name: str
    unit: str  # what a layout counts: "chips" or "systems"
    draft_has_own_units: bool  # a speculative draft runs on its own units (and draws their power)
    fit_params: tuple[str, ...]  # EfficiencyParams fields its calibration fits

    def usable_bytes(self, hw: HardwareSpec, num_chips: int) -> float: ...

    def kv_replication(self, model: ModelSpec, layout: Layout) -> int: ...

    def extra_resident_bytes(self, model: ModelSpec, layout: Layout) -> float: ...

    def default_kv_precision(self, weight_precision: str) -> str: ...

    def shape(self, hw: HardwareSpec, num_chips: int, weight_precision: str, kv_precision: str,
              tp: int | None = None, pp: int | None = None) -> Layout: ...

    def next_sizes(self, hw: HardwareSpec, first: int, limit: int | None) -> list[int]: ...

    def round_up(self, hw: HardwareSpec, num_chips: int) -> int: ...

    def schedulers(self, model: ModelSpec, layout: Layout) -> int:
        """Engine schedulers a replica runs, each with its own cap on running sequences."""
        ...

    def coefficients(self, model: ModelSpec, hw: HardwareSpec, layout: Layout,
                     params: EfficiencyParams) -> StepCoefficients: ...


# ---- weights, shared by every family ---------------------------------------------------------------------
def weight_bytes_split(model: ModelSpec, precision: str) -> tuple[float, float]:
    """(bytes of weights every token uses, bytes of all routed experts) stored at ``precision``.

    A model released in MXFP4 (gpt-oss) keeps attention, router and embeddings in bf16 at fp4: only its
    experts are 4-bit. A model quantised to fp4 / fp8 / int8 (NVFP4 / FP8 checkpoints) stores every linear
    layer at that precision; embeddings and the output head stay 16-bit.
    """
    expert = model.expert_params_total * BYTES_PER_PARAM[precision]
    embed = model.embedding_params
    rest = model.total_params - model.expert_params_total - embed
    return rest * BYTES_PER_PARAM[non_expert_precision(model, precision)] + embed * 2.0, expert


def non_expert_precision(model: ModelSpec, precision: str) -> str:
    """Precision of the weights outside the routed experts. 4-bit MoE checkpoints quantise only the experts
    (NVIDIA's DeepSeek-R1-FP4 model card: "only the weights and activations of the linear operators within
    transformer blocks in MoE are quantized"; gpt-oss ships MXFP4 experts, everything else bf16): the rest
    stays at the release precision (bf16 for an MXFP4 release). Dense models quantise every linear layer."""
    if model.is_moe and precision in ("fp4", "int4"):
        native = model.native_precision
        return "bf16" if native in ("fp4", "int4") else native
    return precision


def resident_weight_bytes(model: ModelSpec, precision: str) -> float:
    dense, expert = weight_bytes_split(model, precision)
    return dense + expert


def read_bytes_per_step(model: ModelSpec, precision: str) -> tuple[float, float]:
    """(dense, routed-expert) bytes one step reads: the input embedding is a lookup of a few rows, not read."""
    dense, expert = weight_bytes_split(model, precision)
    lookup = model.vocab * model.hidden * (0 if model.tied_embeddings else 2.0)
    return dense - lookup, expert


def compute_precision(model: ModelSpec, hw: HardwareSpec, weight_precision: str, weight_only: bool = False) -> str:
    """The precision the matmul kernels run at (real kernel rates, not the weight format).

    fp4 weights run on fp4 tensor cores only where the hardware has them and activations are quantised
    too (NVFP4 checkpoints, MLPerf Llama 2 70B); a model released in MXFP4 (gpt-oss) runs W4A8 kernels
    (MXFP4 x MXFP8 in TensorRT-LLM) at the fp8 rate; hardware without fp4 units dequantises to 16 bits
    (Marlin / Triton W4A16 kernels on Hopper and CDNA3). fp8 / int8 weights run at their rate where present.
    Weight-only kernels (``weight_only``) dequantise any format to 16 bits.
    """
    if weight_only:
        return "bf16"
    have = hw.dense_tflops
    if weight_precision in ("fp4", "int4"):
        if not have.get("fp4"):
            return "bf16"
        return "fp8" if model.native_precision in ("fp4", "int4") and have.get("fp8") else "fp4"
    if weight_precision in ("fp8", "int8") and not have.get(weight_precision):
        return "fp8" if have.get("fp8") else "bf16"
    return weight_precision


def matmul_flops_split(model: ModelSpec) -> tuple[float, float]:
    """(dense, routed-expert) matmul FLOPs per token."""
    total = 2.0 * model.matmul_params_per_token
    expert = 2.0 * model.n_moe_layers * model.n_active_experts * model.expert_params
    return total - expert, expert


def rate_weighted_flops(model: ModelSpec, hw: HardwareSpec, precision: str,
                        weight_only: bool = False) -> tuple[float, float, str]:
    """(dense, expert) matmul FLOPs per token, each weighted by how much slower its kernels run than the
    experts' kernels, and the experts' compute precision: one ``inv_flops`` then prices both. The output
    head runs in 16 bits; 4-bit MoE checkpoints run their non-expert layers at the release precision."""
    dense, expert = matmul_flops_split(model)
    cprec = compute_precision(model, hw, precision, weight_only)
    rate = hw.tflops(cprec)
    head = 2.0 * model.vocab * model.hidden
    body = dense - head
    body_prec = compute_precision(model, hw, non_expert_precision(model, precision), weight_only)
    weighted = body * rate / hw.tflops(body_prec) + head * rate / hw.tflops("bf16")
    return weighted, expert, cprec


def window_terms(model: ModelSpec, kv_precision: str) -> tuple[float, float]:
    """Per-token attention work that does not grow with context, and the fixed bytes one decoding sequence reads
    per step: sliding-window layers (gpt-oss: every other layer, 128 tokens) attend over a full window plus the
    attention-sink logit of each head; linear-attention layers (Qwen3.5's Gated DeltaNet) update and read a
    recurrent state per sequence, read and written back each step (kept in 16 bits, whatever the KV format:
    vLLM's ``mamba_ssm_cache_dtype`` follows the model's dtype)."""
    flops = bytes_ = 0.0
    if model.sliding_layers:
        w = model.sliding_window
        per_layer = 4.0 * model.n_heads * model.head_dim * w + (2.0 * model.n_heads if model.attention_sinks else 0.0)
        flops += model.sliding_layers * per_layer
        bytes_ += model.sliding_layers * 2.0 * model.n_kv_heads * model.head_dim * w * BYTES_PER_PARAM[kv_precision]
    if model.linear_attn_layers:
        flops += model.linear_attn_flops_per_token()
        bytes_ += 2.0 * model.linear_state_elements() * LINEAR_STATE_BYTES
    return flops, bytes_


LINEAR_STATE_BYTES = 2.0  # bytes per element of a linear-attention layer's recurrent state (bf16)
