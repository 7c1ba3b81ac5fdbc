"""Serving stacks: what software a vendor's published speed came from, decided per stack, not per row.

A stack says whether speculative decoding (a draft model, or DeepSeek's multi-token prediction) is on in
its production configuration, with how many drafted tokens and what acceptance, and whether it is a
software generation of its own (its own fitted efficiency parameters: Cerebras' API of August 2024 and its
October 2024 re-release are different software on the same wafers). A row says ``spec_decode`` yes / no /
unknown: yes and no are taken as published, unknown takes the stack's production default where it pays
(:func:`worth_speculating`: a draft reading more than a tenth of the target's active weights is not used).
A row's stack is the latest of its calibration group whose ``since`` is not after the row's date (undated
rows: the latest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenfleet.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class ServingStack:
    stack_id: str  # "cerebras@2024-10"; the calibration key when ``own_fit``
    calibration_group: str
    since: str  # "YYYY-MM" (inclusive); "" = from the start
    speculative: bool  # on by default in production (rows with spec_decode = unknown)
    draft_tokens: int
    acceptance: float  # per drafted token (Leviathan et al. 2023: 0.6-0.9 for same-family drafts)
    own_fit: bool
    source: str


STACKS: tuple[ServingStack, ...] = (
    ServingStack("cerebras@2024-08", "cerebras", "", False, 0, 0.0, True,
                 "Cerebras Inference launch, 2024-08-27: Llama 3.1 8B 1,800 and 70B 450 tok/s, 16-bit weights, "
                 "no speculation (cerebras.ai/blog/introducing-cerebras-inference-ai-at-instant-speed)"),
    ServingStack("cerebras@2024-10", "cerebras", "2024-10", True, 4, 0.8, True,
                 "Cerebras Inference re-release, 2024-10: Llama 3.1 70B 2,100 tok/s with speculative decoding "
                 "(row 37 of published_results.csv; the vendor API runs it in production since; draft length and "
                 "acceptance ESTIMATE: vLLM / TensorRT-LLM defaults)"),
    ServingStack("groq", "groq", "", False, 0, 0.0, False,
                 "GroqCloud production models run without speculation (speculative variants are listed as "
                 "separate '-specdec' models in console.groq.com/docs/models)"),
    ServingStack("sambanova", "sambanova", "", True, 8, 0.85, False,
                 "ASSUMPTION: SambaNova Cloud's 129 tok/s on Llama 3.1 405B in 16 bits needs ~104 TB/s of weight "
                 "reads per user without speculation, 4x the 25.6 TB/s HBM of a 16-socket SN40L rack, so it "
                 "speculates. A 405B pass takes >= 32 ms at that bandwidth and a Llama 3.2 1B draft step ~0.4 ms "
                 "(~1 % of it): the expected-speed-optimal draft length (Leviathan et al. 2023, sec. 3.3) is 7-9 "
                 "tokens for a 70B and 11-14 for the 405B at acceptance 0.8-0.85, so k = 8. The acceptance is set "
                 "by the same row: at 0.8 the best draft length reaches 105 tok/s at the family's bandwidth bound, "
                 "0.85 (inside the 0.6-0.9 of same-family drafts) reaches 129. Not calibration data but on the "
                 "same vendor page (sambanova.ai/blog/sn40l-chip-best-inference-solution): 70B 457 and 8B 1,042 "
                 "tok/s"),
)
# drafts: the smallest model sharing the target's tokenizer (vLLM / TensorRT-LLM speculative examples)
DRAFT_FOR = {"llama-3.1-70b": "llama-3.2-1b", "llama-3.3-70b": "llama-3.2-1b", "llama-3.1-405b": "llama-3.2-1b",
             "llama-3.1-8b": "llama-3.2-1b", "llama-4-maverick": "llama-3.2-1b", "qwen3-235b-a22b": "qwen3-0.6b",
             "qwen3-32b": "qwen3-0.6b",
             "gpt-oss-120b": "gpt-oss-20b"}


def month(date: str) -> str:
    """'2024-08-27' -> '2024-08'; '2025' / '2025-2026' -> '2025-00'; '' when no year is given."""
    m = re.search(r"(20\d\d)(?:-(\d\d)(?!\d))?", date or "")
    if not m:
        return ""
    return f"{m.group(1)}-{m.group(2) or '00'}"


def stack_for(calibration_group: str, date: str = "") -> ServingStack | None:
    """The serving stack of a group at a date (latest when undated); None for groups with no stack entry."""
    mine = [s for s in STACKS if s.calibration_group == calibration_group]
    if not mine:
        return None
    when = month(date)
    if when:
        # a year without a month (e.g. "2025") means some time that year: the stack live for most of it
        eligible = [s for s in mine if not s.since or s.since <= (when if not when.endswith("-00")
                                                                   else when[:4] + "-12")]
        if eligible:
            return eligible[-1]
    return mine[-1]


def calibration_key(calibration_group: str, date: str = "") -> str:
    """Where a row's fit lives: ``group@stack`` for a stack with its own fit, else the group."""
    s = stack_for(calibration_group, date)
    return s.stack_id if s is not None and s.own_fit else calibration_group


def speculative_on(calibration_group: str, spec_decode: str, date: str = "") -> ServingStack | None:
    """The stack whose speculation applies to a row (None: no speculation)."""
    if spec_decode == "no":
        return None
    s = stack_for(calibration_group, date)
    if spec_decode == "yes":
        return s if s is not None and s.speculative else ServingStack(
            "published", calibration_group, "", True, 4, 0.8, False, "row says speculative decoding was on")
    return s if s is not None and s.speculative else None


# a production stack speculates only where it pays: a draft reading more than this fraction of the target's
# active weights per token costs nearly as much as the target on a latency-bound chip (a 1.2B draft for an
# 8B target, gpt-oss-20b's 3.6B active for gpt-oss-120b's 5.1B). Vendors speculate on their large models
# (Cerebras' 70B re-release); a row that says spec_decode = yes is taken at its word
WORTH_DRAFT_FRACTION = 0.1


def worth_speculating(target: ModelSpec, draft: ModelSpec) -> bool:
    return draft.active_params <= WORTH_DRAFT_FRACTION * target.active_params


def draft_model_id(model: ModelSpec) -> str | None:
    return DRAFT_FOR.get(model.model_id)


# Serving engine of an HBM row (GPUs, TPUs, Trainium). The same chips run the same model at different speeds
# under different engines (kernels, scheduling, graph capture): one speed factor per engine, shared by every
# hardware generation and fitted on all its rows (perf.calibrate), relative to the reference engine that most
# of the calibration file ran (TensorRT-LLM: NVIDIA's MLPerf submissions and perf tables). An engine is
# recognised from the row's notes; a row that names none ran the reference (MLPerf closed submissions of
# NVIDIA and its partners). NxD Inference on Trainium and vllm-tpu are served through vLLM and say so.
REFERENCE_ENGINE = "tensorrt-llm"
ENGINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vllm", ("vllm", "llm-d", "max-num-seqs")),
    ("sglang", ("sglang",)),
    ("jetstream", ("jetstream",)),
)


# engines that serve one model sharded over every chip of the measured host (JetStream, MaxText or
# jetstream-pytorch: one device mesh over the slice, its batch size the whole engine's): a row of theirs that
# names no TP ran tensor-parallel over all its chips
SINGLE_MESH_ENGINES = frozenset({"jetstream"})
# engines whose int8 / int4 kernels are weight-only: weights dequantised to bf16 for the matmul (jetstream-
# pytorch's WeightOnlyPerChannelQuantizedLinear / blockwise int8 and int4 layers), so the bytes shrink but
# the matmuls run at the 16-bit rate
WEIGHT_ONLY_ENGINES = frozenset({"jetstream"})

# a submission's software list may name several engines ("TensorRT-LLM …, NVIDIA Dynamo …, vLLM …" for a
# whole MLPerf round): TensorRT(-LLM) named, or a trtllm-bench table ("PyTorch backend"), is the reference
REFERENCE_MARKS = ("tensorrt", "trtllm", "pytorch backend", "_trt/")


# the engine a row that names none ran: TensorRT-LLM runs on NVIDIA GPUs only (MLPerf closed submissions of
# NVIDIA and its partners); other vendors' chips ship vLLM as their serving engine (AMD's MLPerf submissions in
# the calibration file name vLLM 0.4.3 / 0.6.5 on ROCm; vllm-tpu on TPU, NxD Inference through vLLM on Trainium)
OTHER_VENDORS_ENGINE = "vllm"


def default_engine(vendor: str = "") -> str:
    """The serving engine of a vendor's chips where nothing else is said (no vendor: the reference)."""
    return REFERENCE_ENGINE if vendor in ("", "NVIDIA") else OTHER_VENDORS_ENGINE


def engine_of(notes: str, vendor: str = "") -> str:
    """The serving engine a row's notes name (``vllm``, ``sglang``, ``jetstream``), else its vendor's default
    (:func:`default_engine`)."""
    text = (notes or "").lower()
    if any(m in text for m in REFERENCE_MARKS):
        return REFERENCE_ENGINE
    for name, marks in ENGINES:
        if any(m in text for m in marks):
            return name
    return default_engine(vendor)
