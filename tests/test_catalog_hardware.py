"""The hardware catalog against its sources: specs.csv (shipped in catalog/data), datasheets, racks."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pytest

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec
from tokenfleet.errors import UnknownIdError
from tokenfleet.perf.validate import packaged_results_path

SPECS_CSV = Path(catalog.__file__).resolve().parent / "data" / "specs.csv"  # copy of shared/data/hardware/specs.csv
RESULTS_CSV = packaged_results_path()

REQUIRED = ["cs3", "h100", "h200", "b200", "b300", "gb200", "gb300", "gb200-nvl72", "gb300-nvl72", "mi300x",
            "mi325x", "mi355x", "groq-lpu", "tpu-v5e", "tpu-v6e", "tpu7x", "trn2", "sn40l"]
NUMERIC = ["dense_tflops", "memory_gb", "memory_bw_tbps", "scaleup_bw_gbps", "scaleup_domain", "chip_power_w",
           "chips_per_system", "system_power_w", "price_usd", "year"]
FLAG_VALUES = {"ESTIMATE", "DERIVED", "CONFLICTING"}
GROUPS = {"NVIDIA": ("nvidia-hopper", "nvidia-blackwell"), "AMD": ("amd-cdna3", "amd-cdna4"),
          "Google": ("google-hbm",), "AWS": ("aws-hbm",), "Cerebras": ("cerebras",), "Groq": ("groq",),
          "SambaNova": ("sambanova",)}
GIB = 2**30 / 1e9


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(cell: str) -> float | None:
    """Leading figure of a specs.csv cell: '~15800 (x)' -> 15800, '270-288' -> 279, '192 (GiB)' -> GB."""
    m = re.match(r"\s*~?([\d,]+(?:\.\d+)?)(?:\s*-\s*([\d,]+(?:\.\d+)?))?", cell)
    if not m:
        return None
    lo = float(m.group(1).replace(",", ""))
    value = (lo + float(m.group(2).replace(",", ""))) / 2 if m.group(2) else lo
    if re.match(r"\s*\(?GiB", cell[m.end():]):
        value *= GIB
    return value


def _units(h: HardwareSpec) -> int:
    """How many chips one specs.csv row of this entry describes (rack/system rows are totals)."""
    return h.chips_per_system if h.base_chip else 1


def test_required_ids_present() -> None:
    ids = {h.hw_id for h in catalog.all_hardware()}
    assert set(REQUIRED) <= ids
    assert {"cs2", "dgx-b200", "groqrack", "tpu-v5p", "trn2-ultraserver"} <= ids


def test_every_published_result_hardware_resolves() -> None:
    ids = {r["hw_id"] for r in _rows(RESULTS_CSV)}
    assert ids, "published_results.csv has no hw_id values"
    for hw_id in ids:
        assert catalog.hardware(hw_id).hw_id == hw_id


def test_every_specs_csv_row_has_an_entry() -> None:
    known = {h.hw_id for h in catalog.all_hardware()}
    assert {r["hw_id"] for r in _rows(SPECS_CSV)} <= known


@pytest.mark.parametrize("h", catalog.all_hardware(), ids=lambda h: h.hw_id)
def test_every_numeric_field_has_a_source_and_valid_flags(h: HardwareSpec) -> None:
    for name in NUMERIC:
        assert h.sources.get(name, "").strip(), f"{h.hw_id}: no source for {name}"
    field_names = {f.name for f in dataclasses.fields(HardwareSpec)}
    assert set(h.flags) <= field_names, f"{h.hw_id}: flags on unknown fields {set(h.flags) - field_names}"
    assert set(h.flags.values()) <= FLAG_VALUES
    assert h.source_url.startswith("https://")


@pytest.mark.parametrize("h", catalog.all_hardware(), ids=lambda h: h.hw_id)
def test_field_values_are_sane(h: HardwareSpec) -> None:
    assert h.family in ("hbm", "wafer", "lpu", "tiered")
    assert h.form in ("chip", "system", "rack")
    assert h.calibration_group in GROUPS[h.vendor]
    assert set(h.dense_tflops) <= {"bf16", "fp8", "fp4", "int8"} and "bf16" in h.dense_tflops
    assert h.default_precision == ("int8" if h.vendor == "Groq" else "bf16")
    # narrower formats never run slower than wider ones
    order = [h.dense_tflops[p] for p in ("bf16", "fp8", "fp4") if p in h.dense_tflops]
    assert order == sorted(order)
    if "int8" in h.dense_tflops:
        assert h.dense_tflops["int8"] >= h.dense_tflops["bf16"]
    for name in ("memory_gb", "memory_bw_tbps", "scaleup_bw_gbps", "chip_power_w", "price_usd"):
        assert getattr(h, name) > 0, f"{h.hw_id}.{name}"
    assert h.scaleup_domain >= 1 and h.chips_per_system >= 1
    # the system you buy draws at least what its chips draw
    assert h.system_power_w >= h.chips_per_system * h.chip_power_w
    assert 2019 <= h.year <= 2026


def test_dense_is_half_the_sparse_datasheet_figure() -> None:
    # NVIDIA H100 SXM datasheet: 1,979 BF16 / 3,958 FP8 TFLOPS with 2:4 sparsity
    h100 = catalog.hardware("h100")
    assert h100.dense_tflops["bf16"] == pytest.approx(1979 / 2, rel=1e-3)
    assert h100.dense_tflops["fp8"] == pytest.approx(3958 / 2, rel=1e-3)
    # B200 sparse 4,500 / 9,000 / 18,000 (BF16 / FP8 / FP4)
    b200 = catalog.hardware("b200")
    assert [b200.dense_tflops[p] * 2 for p in ("bf16", "fp8", "fp4")] == [4500, 9000, 18000]
    # GB200 NVL72 rack 360 / 720 / 1,440 PF sparse over 72 GPUs
    gb200 = catalog.hardware("gb200")
    assert gb200.dense_tflops["fp4"] * 2 * 72 == pytest.approx(1_440_000)
    # Trainium2: 2,563 sparse TFLOPS (FP8/FP16/BF16), dense FP8 about half
    trn2 = catalog.hardware("trn2")
    assert trn2.dense_tflops["fp8"] < 2563 and trn2.dense_tflops["fp8"] == pytest.approx(2563 / 2, rel=0.02)
    # CS-3 dense estimate is about 8x under the 125 PF 'peak AI' (sparse) headline
    assert 125_000 / catalog.hardware("cs3").dense_tflops["bf16"] == pytest.approx(8, rel=0.05)


def test_compute_and_memory_match_specs_csv() -> None:
    checked = 0
    for row in _rows(SPECS_CSV):
        h = catalog.hardware(row["hw_id"])
        bf16 = _number(row["bf16_dense_tflops"])
        if bf16:
            assert h.dense_tflops["bf16"] * _units(h) == pytest.approx(bf16, rel=0.01), h.hw_id
            checked += 1
        fp8 = _number(row["fp8_dense_tflops"])
        if fp8 and "fp8" in h.dense_tflops:
            assert h.dense_tflops["fp8"] * _units(h) == pytest.approx(fp8, rel=0.01), h.hw_id
        # memory the model places weights in: HBM for HBM chips and SN40L, on-chip SRAM for wafers and LPUs
        hbm = _number(row["hbm_dram_gb"]) or 0.0
        mem = hbm if hbm > 0 else (_number(row["onchip_sram_mb"]) or 0.0) / 1000
        assert h.memory_gb * _units(h) == pytest.approx(mem, rel=0.05), h.hw_id
    assert checked >= 20


def test_rack_entries_match_their_base_chip() -> None:
    racks = [h for h in catalog.all_hardware() if h.base_chip]
    expected_chips = {"gb200-nvl72": 72, "gb300-nvl72": 72, "dgx-b200": 8, "groqrack": 72,
                      "trn2-ultraserver": 64}
    assert {h.hw_id for h in racks} == set(expected_chips)
    for rack in racks:
        chip = catalog.hardware(rack.base_chip or "")
        assert rack.form in ("rack", "system") and chip.form == "chip"
        assert rack.chips_per_system == expected_chips[rack.hw_id]
        for name in ("family", "dense_tflops", "memory_gb", "memory_bw_tbps", "chip_power_w",
                     "calibration_group", "default_precision"):
            assert getattr(rack, name) == getattr(chip, name), f"{rack.hw_id}.{name}"


def test_rack_memory_matches_specs_csv_within_5_percent() -> None:
    rows = {r["hw_id"]: r for r in _rows(SPECS_CSV)}
    for hw_id in ("gb200-nvl72", "gb300-nvl72", "dgx-b200", "trn2-ultraserver"):
        rack = catalog.hardware(hw_id)
        chip = catalog.hardware(rack.base_chip or "")
        published = _number(rows[hw_id]["hbm_dram_gb"])
        assert published
        assert rack.chips_per_system * chip.memory_gb == pytest.approx(published, rel=0.05), hw_id
    groq = catalog.hardware("groq-lpu")
    assert 72 * groq.memory_gb * 1000 == pytest.approx(_number(rows["groqrack"]["onchip_sram_mb"]), rel=0.05)


def test_rack_prices_are_rack_midpoints_over_72() -> None:
    assert catalog.hardware("gb200").system_price_usd == pytest.approx((2.0e6 + 3.1e6) / 2)
    assert catalog.hardware("gb300-nvl72").system_price_usd == pytest.approx(3.5e6)
    assert catalog.hardware("dgx-b200").system_price_usd == pytest.approx(500_000)


def test_one_direction_scaleup_bandwidth() -> None:
    assert catalog.hardware("h100").scaleup_bw_gbps == 900 / 2  # NVLink4 900 GB/s bidirectional
    assert catalog.hardware("b200").scaleup_bw_gbps == 1800 / 2  # NVLink5 1.8 TB/s bidirectional
    assert catalog.hardware("cs3").scaleup_bw_gbps == pytest.approx(1.2e12 / 8 / 1e9)  # 1.2 Tb/s I/O


def test_system_power_and_host_overhead() -> None:
    h100 = catalog.hardware("h100")
    assert h100.system_power_w == 10_200 and h100.host_power_w_per_chip == pytest.approx(10_200 / 8 - 700)
    assert catalog.hardware("b200").system_power_w == 14_300
    assert catalog.hardware("cs3").host_power_w_per_chip == 0  # the unit is the whole system
    for hw_id in ("mi300x", "mi325x", "mi355x", "tpu-v5e", "tpu-v6e", "tpu7x", "trn2"):
        assert catalog.hardware(hw_id).flags["system_power_w"] == "ESTIMATE"


def test_dataflow_units_and_their_families() -> None:
    cs3, lpu, sn40l = (catalog.hardware(i) for i in ("cs3", "groq-lpu", "sn40l"))
    assert (cs3.family, lpu.family, sn40l.family) == ("wafer", "lpu", "tiered")
    assert cs3.cores == 900_000 and cs3.memory_gb * 1e9 / cs3.cores == pytest.approx(48_900, rel=0.02)  # ~48 KB/core
    assert (sn40l.sram_gb, sn40l.memory_gb, sn40l.ddr_gb) == (0.52, 64, 1536)  # three tiers per socket
    assert (cs3.memory_gb, cs3.memory_bw_tbps, cs3.chips_per_system) == (44, 21_000, 1)
    assert (lpu.memory_gb, lpu.memory_bw_tbps) == (0.23, 80)
    assert sn40l.memory_gb == 64  # weights live in HBM on SambaNova and stream through the 520 MB SRAM
    assert "520 MB" in sn40l.sources["memory_gb"] and "DDR" in sn40l.sources["ddr_gb"]


def test_precision_fallback() -> None:
    assert catalog.hardware("tpu-v5e").tflops("fp8") == 197  # no FP8: runs at BF16
    assert catalog.hardware("groq-lpu").tflops("int8") == 750
    assert catalog.hardware("h100").tflops("fp4") == catalog.hardware("h100").dense_tflops["fp8"]


def test_unknown_id_names_the_closest() -> None:
    with pytest.raises(UnknownIdError) as err:
        catalog.hardware("h1000")
    assert "h100" in err.value.closest
    assert "did you mean" in str(err.value)
    with pytest.raises(UnknownIdError) as err:
        catalog.hardware("gb200nvl72")
    assert err.value.closest[0] == "gb200-nvl72"


def test_matmul_units_tensor_cores_on_gpus_systolic_arrays_on_tpus_and_trainium() -> None:
    units = {h.hw_id: h.matmul_unit for h in catalog.all_hardware() if h.family == "hbm"}
    systolic = {h for h, u in units.items() if u == "systolic"}
    assert systolic == {"tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu7x", "trn2", "trn2-ultraserver"}
    assert all(units[h] == "tensor-core" for h in ("h100", "h200", "b200", "gb200-nvl72", "mi300x", "mi355x"))
    for h in systolic:
        assert "systolic" in catalog.hardware(h).sources["matmul_unit"]
