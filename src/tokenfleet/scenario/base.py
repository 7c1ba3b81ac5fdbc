"""Shared pydantic base: strict models (unknown keys are errors, no NaN / inf), frozen once validated, and
range helpers whose errors read like the domain ("pue must be in [1.0, 3.0], got 5")."""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from tokenfleet.inputs import check_range

MAX_TOKENS = 10_000_000  # longest context of any catalog model (Llama 4 Scout: 10M)
MAX_NAME_CHARS = 200


class StrictModel(BaseModel):
    """Base of every scenario section: unknown keys are rejected, floats must be finite, values are not
    mutated after load."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    return v


NOT_BOOL = BeforeValidator(_no_bool)


def in_range(lo: float | None = None, hi: float | None = None, unit: str = "", lo_open: bool = False) -> Any:
    """An ``AfterValidator`` checking ``lo <= v <= hi`` (``lo < v`` with ``lo_open``), with the field's name
    and unit in the message. Use as ``Annotated[float, NOT_BOOL, in_range(1.0, 3.0)]``."""

    def check(v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        check_range(info.field_name or "value", v, lo, hi, unit, lo_open=lo_open)
        return v

    check.range = (lo, hi, unit, lo_open)  # type: ignore[attr-defined]  # read by the docs' field reference
    return AfterValidator(check)


__all__ = ["MAX_NAME_CHARS", "MAX_TOKENS", "NOT_BOOL", "StrictModel", "in_range"]
