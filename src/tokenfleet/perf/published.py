"""What a published result says about how it was run: its tensor parallelism, its batch cap, its power cap.

These are facts of the measured configuration, read from the row's notes and constraints (``TP8``,
``max-num-seqs 1500``, ``batch size 256``, ``concurrency 64``, ``TGP 1000W``), not corrections: a result
that ran tensor-parallel over 8 GPUs at most 1,500 sequences is predicted on that layout at that cap, and one
whose GPUs were capped at 500 W is predicted at the clock that power allows. A row that says nothing leaves
the model free to pick what a submitter would (the best layout, the batch its memory holds).

An MLPerf *MaxQ* (power-efficiency) submission names no cap in its results table; its power logs do, and the
packaged ``published_power.csv`` carries them (``tdp_setting_w``): a MaxQ row takes the cap of the power run
with the same hardware, model, workload and throughput.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec
from tokenfleet.perf import stacks
from tokenfleet.perf.results import PublishedResult

_TP = re.compile(r"\bTP ?(\d{1,3})\b")
_BATCH = re.compile(r"\b(?:batch size|max-num-seqs|max_num_seqs|concurrency|max batch size) ?=? ?(\d{1,6})\b", re.I)
# TensorRT-LLM ``enable_attention_dp`` / "attention-DP", SGLang ``--enable-dp-attention`` / "DP attention"
_ADP = re.compile(r"\battention[-_ ]?DP\b|\bdp[-_ ]attention\b", re.I)
_CAP = re.compile(r"\b(?:TGP|TDP|power cap(?: of)?) ?(\d{3,4}) ?W\b|\b(\d{3,4}) ?W (?:cap|TGP|MaxQ)\b", re.I)
# dynamic power ~ f V^2 with V ~ f across the DVFS range: the clock a cap allows ~ (cap / rated) ** (1/3)
CLOCK_POWER_EXPONENT = 1.0 / 3.0
CLOCK_RANGE = (0.5, 1.2)  # lowest DVFS state to the highest boost above the rated power's sustained clock
MATCH_TOLERANCE = 0.005  # a MaxQ row and its power run report the same throughput to within 0.5 %


@dataclass(frozen=True, slots=True)
class RunConfig:
    tp: int | None = None  # tensor-parallel degree of one replica
    max_batch: int | None = None  # most sequences in flight per replica (engine cap, or the benchmark's concurrency)
    power_cap_w: float | None = None  # per-accelerator power cap in force
    weight_only: bool = False  # the engine's quantised kernels are weight-only (16-bit matmuls)
    attention_dp: bool = False  # a MoE model's attention ran data-parallel across the replica's chips


def _text(res: PublishedResult) -> str:
    return f"{res.notes or ''} | {getattr(res, 'constraints', '') or ''}"


def run_config(res: PublishedResult) -> RunConfig:
    text = _text(res)
    tp = [int(m) for m in _TP.findall(text) if int(m) >= 1]
    batch = [int(m) for m in _BATCH.findall(text) if int(m) >= 1]
    one = tp[0] if len(set(tp)) == 1 else None
    if one is None and res.num_chips and stacks.engine_of(res.notes) in stacks.SINGLE_MESH_ENGINES:
        one = res.num_chips  # one engine over the whole host: JetStream shards the model over the slice
    engine = stacks.engine_of(res.notes)
    # a perf table's "MoE models use attention-DP/EP" is about its MoE rows: only a MoE model's run takes it
    adp = bool(_ADP.search(text)) and catalog.model(res.model_id).is_moe
    return RunConfig(tp=one, max_batch=min(batch) if batch else None, power_cap_w=_power_cap(res, text),
                     weight_only=engine in stacks.WEIGHT_ONLY_ENGINES and res.precision in ("int8", "int4"),
                     attention_dp=adp)


def _power_cap(res: PublishedResult, text: str) -> float | None:
    for a, b in _CAP.findall(text):
        return float(a or b)
    if "maxq" in text.lower():
        for hw_id, model_id, workload_id, tok_s, cap in _power_runs():
            if (hw_id, model_id, workload_id) == (res.hw_id, res.model_id, res.workload_id) and \
                    abs(tok_s - res.value) <= MATCH_TOLERANCE * res.value:
                return cap
    return None


@cache
def _power_runs() -> tuple[tuple[str, str, str, float, float], ...]:
    from tokenfleet.perf.power_data import read_power
    return tuple((p.hw_id, p.model_id, p.workload_id, p.throughput_tok_s, p.tdp_setting_w) for p in read_power()
                 if p.model_id and p.workload_id and p.throughput_tok_s and p.tdp_setting_w)


def clock_factor(hw: HardwareSpec, power_cap_w: float | None) -> float:
    """Compute clock under a power cap relative to the chip at its rated power (1 with no cap named)."""
    if not power_cap_w or not hw.chip_power_w:
        return 1.0
    lo, hi = CLOCK_RANGE
    return min(hi, max(lo, (power_cap_w / hw.chip_power_w) ** CLOCK_POWER_EXPONENT))
