"""Shared pydantic base: strict models (unknown keys are errors), frozen once validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every scenario section: unknown keys are rejected, values are not mutated after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["StrictModel"]
