"""Measured system power: reading a CSV with the columns of ``shared/data/benchmarks/published_power.csv``.

One row is a whole node's mean wall power during a published run (``scenario`` offline / server) or its idle
floor (``scenario`` idle, no model). Cells are checked as in :mod:`tokenfleet.perf.results`: a bad one raises
:class:`InputError` naming the file, row (line) and column. ``joules_per_output_token``, when given, must
agree with ``system_power_w / throughput_tok_s`` (within 2 %). A row whose ``power_scope`` or ``notes`` say
water- or liquid-cooled is a node without fans in scope.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tokenfleet import catalog
from tokenfleet.errors import InputError
from tokenfleet.perf.results import Row, read_rows

REQUIRED_COLUMNS = ("hw_id", "num_chips", "model_id", "precision_id", "workload_id", "scenario",
                    "throughput_tok_s", "system_power_w", "joules_per_output_token", "power_scope", "tdp_setting_w")
SCENARIOS = ("offline", "server", "idle")
MAX_SYSTEM_POWER_W = 5e7  # 50 MW: no single measured system draws more


@dataclass(frozen=True, slots=True)
class PowerRow:
    row: int
    hw_id: str
    num_chips: int
    model_id: str | None
    precision: str | None
    workload_id: str | None
    scenario: str
    throughput_tok_s: float | None
    system_power_w: float
    joules_per_output_token: float | None
    tdp_setting_w: float | None
    liquid: bool
    evidence: str = ""
    source_url: str = ""
    date: str = ""

    def label(self) -> str:
        what = f"{self.model_id} {self.precision or '-'} {self.scenario}" if self.model_id else "idle"
        cap = f" @{self.tdp_setting_w:g} W" if self.tdp_setting_w else ""
        return f"{self.num_chips}x{self.hw_id}{cap} {what}{' (liquid)' if self.liquid else ''}"


def packaged_power_path() -> Path:
    """The copy of shared/data/benchmarks/published_power.csv shipped in the package."""
    return Path(str(resources.files("tokenfleet.perf").joinpath("data", "published_power.csv")))


def _liquid(r: Row) -> bool:
    text = f"{r.text('power_scope')} {r.text('notes')}".lower()
    return any(w in text for w in ("water-cooled", "liquid-cooled", "water cooled", "liquid cooled"))


def _row(r: Row) -> PowerRow:
    scenario = r.choice("scenario", SCENARIOS, None)
    if scenario is None:
        raise InputError(f"is empty (one of {', '.join(SCENARIOS)})", where=r.where("scenario"))
    r.known_id("hw_id", catalog.hardware)
    chips = r.whole_or_none("num_chips")
    if chips is None:
        raise InputError("is empty (accelerators in the measured node)", where=r.where("num_chips"))
    power = r.number_or_none("system_power_w")
    if power is None:
        raise InputError("is empty", where=r.where("system_power_w"))
    if power > MAX_SYSTEM_POWER_W:
        raise InputError(f"{power:g} W is more than any single system draws", where=r.where("system_power_w"))
    tput = r.number_or_none("throughput_tok_s")
    jpt = r.number_or_none("joules_per_output_token")
    model = workload = precision = None
    if scenario != "idle":
        model = r.known_id("model_id", catalog.model)
        workload = r.known_id("workload_id", catalog.workload)
        precision = r.choice("precision_id", catalog.PRECISIONS, None)
        if tput is None:
            raise InputError(f"is empty (a {scenario} row needs its output tokens/s)",
                             where=r.where("throughput_tok_s"))
        if jpt is not None and abs(jpt - power / tput) > 0.02 * jpt:
            raise InputError(f"{jpt:g} J/token disagrees with system_power_w / throughput_tok_s = "
                             f"{power / tput:.4g}", where=r.where("joules_per_output_token"))
    return PowerRow(row=r.number, hw_id=r.text("hw_id"), num_chips=chips, model_id=model, precision=precision,
                    workload_id=workload, scenario=scenario, throughput_tok_s=tput, system_power_w=power,
                    joules_per_output_token=jpt, tdp_setting_w=r.number_or_none("tdp_setting_w"),
                    liquid=_liquid(r), evidence=r.text("evidence_type"), source_url=r.text("source_url"),
                    date=r.text("date"))


def read_power(path: str | Path | None = None) -> list[PowerRow]:
    """Parse a power CSV (default: the packaged copy). A replicate run whose ``source_url`` lies under a
    liquid-cooled row's (MLPerf ``.../performance/ranging`` of the same configuration) is liquid-cooled too."""
    rows = [_row(r) for r in read_rows(path or packaged_power_path(), REQUIRED_COLUMNS, "power CSV")]
    liquid_urls = [r.source_url.rstrip("/") + "/" for r in rows if r.liquid and r.source_url]
    return [dataclasses.replace(r, liquid=True) if not r.liquid and r.source_url
            and any(r.source_url.startswith(u) for u in liquid_urls) else r for r in rows]
