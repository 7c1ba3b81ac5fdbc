"""Layouts (how many chips, which parallelism, which precisions) and placement of a model on hardware."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec
from tokenfleet.errors import InputError, LayoutError
from tokenfleet.perf.devices import device_for
from tokenfleet.perf.devices.base import resident_weight_bytes
from tokenfleet.perf.devices.dataflow import SRAM_USABLE_FRAC
from tokenfleet.perf.devices.hbm import HBM_USABLE_FRAC

__all__ = ["HBM_USABLE_FRAC", "MIN_KV_TOKENS", "SRAM_USABLE_FRAC", "Layout", "candidate_layouts", "check_fits",
           "kv_bytes_per_token", "kv_capacity_tokens", "make_layout", "min_chips", "min_layout",
           "served_precision", "usable_bytes", "weight_bytes"]

MIN_KV_TOKENS = 8192  # a layout must hold at least this much KV (one long prompt) to count as valid


@dataclass(frozen=True, slots=True)
class Layout:
    """One model replica: ``num_chips`` units with tensor (tp) x pipeline (pp) parallelism.

    For an HBM device ``num_chips == tp * pp`` GPUs; experts of an MoE model are sharded over all of them
    (expert parallel ``ep == num_chips``). For a wafer or LPU ``num_chips`` is the number of systems (CS-3)
    or chips (LPU) the layers are pipelined across, and tp = 1, pp = num_chips; a tiered (SN40L) layout is
    tensor-parallel over its sockets. The device family shapes a chip count into a layout.
    """

    num_chips: int
    tp: int = 1
    pp: int = 1
    weight_precision: str = "bf16"
    kv_precision: str = "bf16"
    # weights stored at weight_precision but dequantised to 16 bits for the matmuls (weight-only W8A16 / W4A16
    # kernels: jetstream-pytorch's int8, AWQ / GPTQ): the bytes of the format at the 16-bit compute rate
    weight_only: bool = False
    # attention data-parallel across the replica's chips (TensorRT-LLM ``enable_attention_dp``, SGLang
    # ``--enable-dp-attention``): each chip runs attention for its own sequences with a full copy of the
    # attention weights and its own scheduler; MLA models always run so on HBM devices
    attention_dp: bool = False

    def __post_init__(self) -> None:
        if self.num_chips < 1 or self.tp < 1 or self.pp < 1:
            raise InputError(f"layout needs positive chips / tp / pp, got {self}")
        if self.tp * self.pp != self.num_chips:
            raise InputError(f"layout tp x pp = {self.tp * self.pp} but num_chips = {self.num_chips}")
        for p in (self.weight_precision, self.kv_precision):
            if p not in BYTES_PER_PARAM:
                raise InputError(f"unknown precision {p!r} (known: {', '.join(BYTES_PER_PARAM)})")

    @property
    def ep(self) -> int:
        return self.num_chips

    def describe(self) -> str:
        par = f"TP{self.tp}" + (f"xPP{self.pp}" if self.pp > 1 else "") if self.tp > 1 or self.pp > 1 else "1 chip"
        if self.pp > 1 and self.tp == 1:
            par = f"PP{self.pp}"
        kv = "" if self.kv_precision == self.weight_precision else f"/kv-{self.kv_precision}"
        adp = " attn-DP" if self.attention_dp else ""
        return f"{par} {self.weight_precision}{'-w' if self.weight_only else ''}{kv}{adp}"


def weight_bytes(model: ModelSpec, precision: str) -> float:
    """Bytes of all weights resident at ``precision`` (an MXFP4 release keeps its non-expert weights in bf16)."""
    return resident_weight_bytes(model, precision)


def kv_bytes_per_token(model: ModelSpec, precision: str) -> float:
    return model.kv_elements_per_token() * BYTES_PER_PARAM[precision]


def usable_bytes(hw: HardwareSpec, num_chips: int) -> float:
    return device_for(hw).usable_bytes(hw, num_chips)


def _resident_bytes(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> float:
    return weight_bytes(model, layout.weight_precision) + device_for(hw).extra_resident_bytes(model, layout)


def kv_capacity_tokens(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> int:
    """Tokens of KV cache that fit beside the weights (sliding-window layers' fixed cache taken out)."""
    free = usable_bytes(hw, layout.num_chips) - _resident_bytes(model, hw, layout)
    free -= model.sliding_kv_elements() * BYTES_PER_PARAM[layout.kv_precision]
    per_tok = kv_bytes_per_token(model, layout.kv_precision) * device_for(hw).kv_replication(model, layout)
    return max(0, int(free / per_tok)) if per_tok > 0 else 0


def check_fits(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> None:
    """Raise :class:`LayoutError` saying how much memory the model needs and how much the layout has."""
    need = _resident_bytes(model, hw, layout) + MIN_KV_TOKENS * kv_bytes_per_token(model, layout.kv_precision)
    have = usable_bytes(hw, layout.num_chips)
    if need > have:
        unit = device_for(hw).unit
        raise LayoutError(
            f"{model.model_id} in {layout.weight_precision} needs {need / 1e9:.1f} GB "
            f"(weights {weight_bytes(model, layout.weight_precision) / 1e9:.1f} GB + KV for {MIN_KV_TOKENS} tokens) "
            f"but {layout.num_chips} {hw.hw_id} {unit} hold {have / 1e9:.1f} GB usable; "
            f"needs at least {min_chips(model, hw, layout.weight_precision, layout.kv_precision)} {unit}",
            needed_bytes=need, available_bytes=have)


def min_chips(model: ModelSpec, hw: HardwareSpec, weight_precision: str, kv_precision: str) -> int:
    need = weight_bytes(model, weight_precision) + MIN_KV_TOKENS * kv_bytes_per_token(model, kv_precision)
    return max(1, math.ceil(need / usable_bytes(hw, 1)))


def _fits(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> bool:
    try:
        check_fits(model, hw, layout)
    except LayoutError:
        return False
    return True


def min_layout(model: ModelSpec, hw: HardwareSpec, weight_precision: str | None = None,
               kv_precision: str | None = None) -> Layout:
    """The smallest valid layout: fewest systems (dataflow) or the smallest power-of-two GPU group."""
    dev = device_for(hw)
    wp = weight_precision or served_precision(model, hw)
    kp = kv_precision or dev.default_kv_precision(wp)
    n = dev.round_up(hw, min_chips(model, hw, wp, kp))
    lay = dev.shape(hw, n, wp, kp)
    while not _fits(model, hw, lay) and n < 1 << 16:  # data-parallel attention copies may need one more step
        n = dev.round_up(hw, n + 1)
        lay = dev.shape(hw, n, wp, kp)
    return lay


def served_precision(model: ModelSpec, hw: HardwareSpec) -> str:
    """Weight precision when none is asked for: the narrower of the model's release precision and the one the
    vendor serves by default (Groq int8; gpt-oss in its native MXFP4; Llama in 16 bits on Cerebras)."""
    a, b = model.native_precision, hw.default_precision
    return a if BYTES_PER_PARAM[a] <= BYTES_PER_PARAM[b] else b


def make_layout(model: ModelSpec, hw: HardwareSpec, num_chips: int | None = None, tp: int | None = None,
                pp: int | None = None, weight_precision: str | None = None,
                kv_precision: str | None = None) -> Layout:
    """A layout from whatever the user pinned down; the rest as :func:`min_layout` would choose it.

    With no ``num_chips``: the smallest valid layout. Otherwise dataflow devices pipeline across all units,
    and GPUs use tensor parallelism up to their scale-up domain, pipeline stages beyond it.
    """
    first = min_layout(model, hw, weight_precision, kv_precision)
    if num_chips is None:
        return first
    return device_for(hw).shape(hw, num_chips, first.weight_precision, first.kv_precision, tp, pp)


def candidate_layouts(model: ModelSpec, hw: HardwareSpec, weight_precision: str | None = None,
                      kv_precision: str | None = None, max_chips: int | None = None) -> list[Layout]:
    """Layouts a planner may choose between: the minimum, then doublings (GPUs) or +50%/x2 (dataflow)."""
    dev = device_for(hw)
    first = min_layout(model, hw, weight_precision, kv_precision)
    return [first] + [dev.shape(hw, n, first.weight_precision, first.kv_precision)
                      for n in dev.next_sizes(hw, first.num_chips, max_chips)]
