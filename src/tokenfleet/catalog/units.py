"""Purchasable units — what a buyer orders for a hardware entry (an 8-GPU server, an NVL72 rack, a CS-3
system, a GroqRack) — loaded from packaged ``data/units.yaml``, keyed by ``hw_id``.

A :class:`UnitSpec` holds the chips (the performance model's units: GPUs, CS-3 systems, LPUs) one unit
carries, its price as a working system — the sum of its ``items`` (an 8-GPU server: ``gpus`` + ``host``;
units of one ``kind`` carry the same items) — its nameplate power, a supply cap where one is public, and
the lead time from order to racked, each figure with its source. A hardware entry without a row is sold
as ``hardware.yaml`` describes its system (``chips_per_system``, ``price_usd x chips_per_system``,
``system_power_w``), marked DERIVED.

>>> from tokenfleet.catalog.units import unit
>>> unit("gb300-nvl72").chips
72
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from tokenfleet.errors import InputError

FILE = "catalog/data/units.yaml"


@dataclass(frozen=True, slots=True)
class UnitSpec:
    hw_id: str
    name: str  # "GB300 NVL72 rack"
    chips: int  # performance-model units per purchasable unit
    price_usd: float  # one unit: the sum of ``items``
    power_w: float  # nameplate power of one unit
    lead_time_months: float = 0.0
    supply_cap_units: int | None = None
    sources: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    kind: str = "system"  # 8-gpu-server, nvl72-rack, wafer-system, lpu-rack
    items: dict[str, float] = field(default_factory=dict)  # what the price buys, $ each

    @property
    def price_per_chip_usd(self) -> float:
        return self.price_usd / self.chips


def _positive(row: dict[str, object], key: str, where: str, *, integer: bool = False) -> None:
    if key not in row or row[key] is None:
        raise InputError(f"{key} missing: every unit needs chips, items and power_w", where=f"{where}.{key}")
    v = row[key]
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if not ok or isinstance(v, bool) or not math.isfinite(float(v)) or float(v) <= 0:  # type: ignore[arg-type]
        kind = "a positive whole number" if integer else "a positive finite number"
        raise InputError(f"must be {kind}, got {v!r}", where=f"{where}.{key}")


def parse_units(rows: list[dict[str, object]], source: str = FILE) -> dict[str, UnitSpec]:
    """Rows of units.yaml -> {hw_id: UnitSpec}; a missing or non-physical figure, or an item without a
    source, raises InputError naming it."""
    names = set(UnitSpec.__dataclass_fields__) - {"price_usd"}
    out: dict[str, UnitSpec] = {}
    for i, row in enumerate(rows):
        where = f"{source} entry {i} ({row.get('hw_id', '?')})"
        unknown = set(row) - names
        if unknown:
            raise InputError(f"unknown fields {sorted(unknown)}", where=where)
        items = row.get("items")
        if not isinstance(items, dict) or not items:
            raise InputError("items missing: every unit needs its price items (e.g. gpus, host)",
                             where=f"{where}.items")
        for key in items:
            _positive(items, key, f"{where}.items")
            if not (row.get("sources") or {}).get(key):  # type: ignore[attr-defined]
                raise InputError(f"item {key!r} has no source", where=f"{where}.sources.{key}")
        for key in ("chips", "power_w"):
            _positive(row, key, where, integer=key == "chips")
        cap = row.get("supply_cap_units")
        if cap is not None and (not isinstance(cap, int) or cap < 1):
            raise InputError(f"must be a positive whole number of units, got {cap!r}",
                             where=f"{where}.supply_cap_units")
        price = float(sum(float(v) for v in items.values()))
        out[str(row["hw_id"])] = UnitSpec(**row, price_usd=price)  # type: ignore[arg-type]
    return out


@cache
def _units() -> dict[str, UnitSpec]:
    text = resources.files("tokenfleet.catalog").joinpath("data", "units.yaml").read_text(encoding="utf-8")
    return parse_units(yaml.safe_load(text)["units"])


def unit(hw_id: str) -> UnitSpec:
    """The unit ``hw_id`` is bought in (derived from the hardware entry when units.yaml has no row)."""
    u = _units().get(hw_id)
    if u is not None:
        return u
    from tokenfleet import catalog

    hw = catalog.hardware(hw_id)
    name = f"{hw.chips_per_system}x {hw.name} system" if hw.form == "chip" else hw.name
    return UnitSpec(hw_id, name, hw.chips_per_system,
                    hw.system_price_usd, hw.system_power_w, 0.0, None,
                    {"system": "DERIVED: hardware.yaml price_usd x chips_per_system",
                     "power_w": "hardware.yaml system_power_w"},
                    {"system": "DERIVED"}, "derived", {"system": hw.system_price_usd})


def all_units() -> list[UnitSpec]:
    return list(_units().values())


__all__ = ["UnitSpec", "all_units", "parse_units", "unit"]
