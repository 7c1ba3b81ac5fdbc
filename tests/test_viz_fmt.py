"""The one number formatter and the chart rules of tokenfleet.viz: money as $2.62M, power with its SI prefix,
fractions as %, never a raw float, NaN or scientific notation; log ticks labelled 1-2-5 in full; tables
left-aligned text and right-aligned numbers; exports with numbers as numbers and units in the headers."""

from __future__ import annotations

import io
import math
import re

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenfleet.viz import fmt
from tokenfleet.viz.export import csv_text, xlsx_bytes
from tokenfleet.viz.table import Column, Table, kv_table
from tokenfleet.viz.theme import log_ticks

BAD = re.compile(r"nan|inf|None|True|False|\d[eE][+-]?\d|\.0*[1-9]\d{3,}")  # > 3 significant decimals


@pytest.mark.parametrize(("value", "text"), [
    (2_618_752, "$2.62M"), (195_000, "$195K"), (12.3e9, "$12.3B"), (950, "$950"), (-1.2e6, "-$1.2M"),
    (0.806, "$0.806"), (21_777_423, "$21.8M"), (999_999, "$1M"),
])
def test_money(value: float, text: str) -> None:
    assert fmt.money(value) == text


@pytest.mark.parametrize(("mw", "text"), [(0.045, "45 kW"), (12.6, "12.6 MW"), (1294, "1.29 GW"), (0.00045, "450 W")])
def test_power_takes_its_si_prefix(mw: float, text: str) -> None:
    assert fmt.mw(mw) == text


@pytest.mark.parametrize(("frac", "text"), [(0.982, "98.2%"), (1.0, "100%"), (0.998093, "99.8%"),
                                            (0.00481, "0.48%"), (0.9998, "100%"), (0.5, "50%")])
def test_percent(frac: float, text: str) -> None:
    assert fmt.pct(frac) == text


def test_latency_and_absent_values() -> None:
    assert fmt.ms(698.2) == "698 ms" and fmt.ms(4000) == "4 s" and fmt.seconds(4e-5) == "40 µs"
    for kind in fmt.KINDS:
        assert fmt.cell(None, kind) == fmt.DASH and fmt.cell(math.nan, kind) == fmt.DASH
    assert fmt.cell(True, "bool") == "yes" and fmt.cell("no", "bool") == "no"


@given(st.one_of(st.floats(min_value=-1e15, max_value=1e15), st.sampled_from([math.nan, math.inf, -math.inf])),
       st.sampled_from([k for k in fmt.KINDS if k not in ("text", "date")]))
def test_no_cell_prints_a_raw_float(x: float, kind: fmt.Kind) -> None:
    text = fmt.cell(x, kind)
    assert not BAD.search(text), (x, kind, text)
    assert len(text) <= 26


@given(st.floats(min_value=1e-4, max_value=1e8), st.floats(min_value=1.05, max_value=1e5))
def test_log_ticks_cover_the_range_and_read_in_full(lo: float, ratio: float) -> None:
    hi = lo * ratio
    vals, labels = log_ticks(lo, hi)
    assert len(vals) >= 2 and vals == sorted(vals)
    assert all(lo * 0.999 <= v <= hi * 1.001 for v in vals)
    assert not any(BAD.search(t) for t in labels)
    assert len(set(labels)) == len(labels)  # no two ticks read the same ("4 5 6 7 8 9 1")


def test_table_html_aligns_and_exports_numbers_with_units() -> None:
    t = Table("pools", "Pools", [Column("pool"), Column("capex", "money"), Column("load", "pct"),
                                  Column("secret", "number", hidden=True)],
              [["chat/h100", 2_618_752.0, 0.9998, 1.5], ["rt/cs3", None, 0.02, 2.5]], highlight=[0])
    html = t.html()
    assert "<td class='txt'>chat/h100</td>" in html and "<td class='num'>$2.62M</td>" in html
    assert "<tr class='hl'>" in html and "secret" not in html and "100%" in html
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([t, kv_table("kv", "KV", [("TCO", 5e6, "money")])])))
    assert book.sheetnames == ["contents", "pools", "kv"]
    ws = book["pools"]
    assert [c.value for c in ws[1]] == ["pool", "capex (USD)", "load (fraction)", "secret"]
    assert ws["B2"].value == 2_618_752.0 and ws["B2"].number_format == '"$"#,##0' and ws["B3"].value is None
    assert [c.value for c in book["kv"][2]][:3] == ["TCO", "$5M", 5e6]
    assert csv_text(t).splitlines()[1] == "chat/h100,2618752.0,0.9998,1.5"
    assert Table.from_dict(t.to_dict()).text() == t.text()


def test_a_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        Table("t", "T", [Column("a"), Column("b")], [["x"]])
