"""The catalog: hardware, models and benchmark workloads as packaged data, each figure with its source.

>>> from tokenfleet import catalog
>>> catalog.hardware("h100").memory_gb
80.0
"""

from __future__ import annotations

import dataclasses
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import yaml

from tokenfleet.catalog.hardware import BYTES_PER_PARAM, PRECISIONS, HardwareSpec
from tokenfleet.catalog.models import ModelSpec
from tokenfleet.catalog.workloads import WorkloadSpec, fixed_length
from tokenfleet.errors import InputError, UnknownIdError

T = TypeVar("T")


def _load(filename: str, key: str, cls: type[T], id_field: str) -> dict[str, T]:
    text = resources.files("tokenfleet.catalog").joinpath("data", filename).read_text(encoding="utf-8")
    rows = yaml.safe_load(text)[key]
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    out: dict[str, T] = {}
    for i, row in enumerate(rows):
        unknown = set(row) - names
        if unknown:
            raise InputError(f"unknown fields {sorted(unknown)}", where=f"catalog/data/{filename} entry {i}")
        out[row[id_field]] = cls(**row)
    return out


@cache
def _hardware() -> dict[str, HardwareSpec]:
    return _load("hardware.yaml", "hardware", HardwareSpec, "hw_id")


@cache
def _models() -> dict[str, ModelSpec]:
    return _load("models.yaml", "models", ModelSpec, "model_id")


@cache
def _workloads() -> dict[str, WorkloadSpec]:
    return _load("workloads.yaml", "workloads", WorkloadSpec, "workload_id")


def _get(table: dict[str, Any], kind: str, ident: str) -> Any:
    try:
        return table[ident]
    except KeyError:
        raise UnknownIdError(kind, ident, table) from None


def hardware(hw_id: str) -> HardwareSpec:
    """The hardware entry ``hw_id``; an unknown id raises :class:`UnknownIdError` naming the closest."""
    return _get(_hardware(), "hardware", hw_id)


def model(model_id: str) -> ModelSpec:
    return _get(_models(), "model", model_id)


def workload(workload_id: str) -> WorkloadSpec:
    """A listed workload, or a fixed-length ``isl{N}-osl{M}`` shape parsed from the id."""
    table = _workloads()
    if workload_id not in table:
        parsed = fixed_length(workload_id)
        if parsed is not None:
            return parsed
    return _get(table, "workload", workload_id)


def all_hardware() -> list[HardwareSpec]:
    return list(_hardware().values())


def all_models() -> list[ModelSpec]:
    return list(_models().values())


def all_workloads() -> list[WorkloadSpec]:
    return list(_workloads().values())


__all__ = [
    "BYTES_PER_PARAM",
    "PRECISIONS",
    "HardwareSpec",
    "ModelSpec",
    "WorkloadSpec",
    "all_hardware",
    "all_models",
    "all_workloads",
    "hardware",
    "model",
    "workload",
]
