"""Layouts (how many chips, which parallelism, which precisions) and placement of a model on hardware."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenfleet.catalog import BYTES_PER_PARAM, HardwareSpec, ModelSpec
from tokenfleet.errors import InputError, LayoutError

HBM_USABLE_FRAC = 0.90  # of HBM left for weights + KV after the runtime, activations and fragmentation
SRAM_USABLE_FRAC = 0.95
MIN_KV_TOKENS = 8192  # a layout must hold at least this much KV (one long prompt) to count as valid


@dataclass(frozen=True, slots=True)
class Layout:
    """One model replica: ``num_chips`` units with tensor (tp) x pipeline (pp) parallelism.

    For an HBM device ``num_chips == tp * pp`` GPUs; experts of an MoE model are sharded over all of them
    (expert parallel ``ep == num_chips``). For an SRAM-dataflow device ``num_chips`` is the number of systems
    (CS-3) or chips (LPU) the layers are pipelined across, and tp = 1, pp = num_chips.
    """

    num_chips: int
    tp: int = 1
    pp: int = 1
    weight_precision: str = "bf16"
    kv_precision: str = "bf16"

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
        return f"{par} {self.weight_precision}{kv}"


def weight_bytes(model: ModelSpec, precision: str) -> float:
    return model.total_params * BYTES_PER_PARAM[precision]


def kv_bytes_per_token(model: ModelSpec, precision: str) -> float:
    return model.kv_elements_per_token() * BYTES_PER_PARAM[precision]


def usable_bytes(hw: HardwareSpec, num_chips: int) -> float:
    frac = SRAM_USABLE_FRAC if hw.is_sram else HBM_USABLE_FRAC
    return num_chips * hw.memory_gb * 1e9 * frac


def kv_capacity_tokens(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> int:
    """Tokens of KV cache that fit beside the weights (sliding-window layers' fixed cache taken out)."""
    free = usable_bytes(hw, layout.num_chips) - weight_bytes(model, layout.weight_precision)
    free -= model.sliding_kv_elements() * BYTES_PER_PARAM[layout.kv_precision]
    per_tok = kv_bytes_per_token(model, layout.kv_precision)
    return max(0, int(free / per_tok)) if per_tok > 0 else 0


def check_fits(model: ModelSpec, hw: HardwareSpec, layout: Layout) -> None:
    """Raise :class:`LayoutError` saying how much memory the model needs and how much the layout has."""
    need = weight_bytes(model, layout.weight_precision) + MIN_KV_TOKENS * kv_bytes_per_token(
        model, layout.kv_precision)
    have = usable_bytes(hw, layout.num_chips)
    if need > have:
        unit = "systems" if hw.hw_id.startswith("cs") else "chips"
        raise LayoutError(
            f"{model.model_id} in {layout.weight_precision} needs {need / 1e9:.1f} GB "
            f"(weights {weight_bytes(model, layout.weight_precision) / 1e9:.1f} GB + KV for {MIN_KV_TOKENS} tokens) "
            f"but {layout.num_chips} {hw.hw_id} {unit} hold {have / 1e9:.1f} GB usable; "
            f"needs at least {min_chips(model, hw, layout.weight_precision, layout.kv_precision)} {unit}",
            needed_bytes=need, available_bytes=have)


def min_chips(model: ModelSpec, hw: HardwareSpec, weight_precision: str, kv_precision: str) -> int:
    need = weight_bytes(model, weight_precision) + MIN_KV_TOKENS * kv_bytes_per_token(model, kv_precision)
    per_chip = usable_bytes(hw, 1)
    return max(1, math.ceil(need / per_chip))


def _hbm_layout(n: int, hw: HardwareSpec, wp: str, kp: str) -> Layout:
    tp = min(n, hw.scaleup_domain) if n <= hw.scaleup_domain else hw.scaleup_domain
    while n % tp:
        tp //= 2
    return Layout(num_chips=n, tp=tp, pp=n // tp, weight_precision=wp, kv_precision=kp)


def min_layout(model: ModelSpec, hw: HardwareSpec, weight_precision: str | None = None,
               kv_precision: str | None = None) -> Layout:
    """The smallest valid layout: fewest systems (dataflow) or the smallest power-of-two GPU group."""
    wp = weight_precision or hw.default_precision
    kp = kv_precision or ("fp8" if wp in ("fp8", "fp4") and not hw.is_sram else wp)
    n = min_chips(model, hw, wp, kp)
    if hw.is_sram:
        return Layout(num_chips=n, tp=1, pp=n, weight_precision=wp, kv_precision=kp)
    n = 1 << (n - 1).bit_length()
    return _hbm_layout(n, hw, wp, kp)


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
    if hw.is_sram:
        tp = tp or 1
    elif tp is None:
        tp = min(num_chips, hw.scaleup_domain)
        while num_chips % tp:
            tp -= 1
    pp = pp or max(1, num_chips // tp)
    return Layout(num_chips, tp, pp, first.weight_precision, first.kv_precision)


def candidate_layouts(model: ModelSpec, hw: HardwareSpec, weight_precision: str | None = None,
                      kv_precision: str | None = None, max_chips: int | None = None) -> list[Layout]:
    """Layouts a planner may choose between: the minimum, then doublings (GPUs) or +50%/x2 (dataflow)."""
    first = min_layout(model, hw, weight_precision, kv_precision)
    limit = max_chips or max(first.num_chips * 4, hw.scaleup_domain if not hw.is_sram else first.num_chips * 2)
    out = [first]
    if hw.is_sram:
        for n in sorted({math.ceil(first.num_chips * 1.5), first.num_chips * 2}):
            if first.num_chips < n <= limit:
                out.append(Layout(n, 1, n, first.weight_precision, first.kv_precision))
        return out
    n = first.num_chips * 2
    while n <= limit:
        out.append(_hbm_layout(n, hw, first.weight_precision, first.kv_precision))
        n *= 2
    return out
