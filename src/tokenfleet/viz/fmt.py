"""The one number formatter of every report, export and the dashboard.

Money reads ``$2.62M`` / ``$196K`` / ``$12.3B``; power takes its SI prefix from its size (``860 kW``,
``12.6 MW``, ``1.29 GW``); latency ``120 ms`` / ``1.4 s``; fractions ``98.2%``; counts ``1,234``. Three
significant figures unless a cell needs more; nothing prints a raw float, ``nan``, ``None`` or ``True``.
:func:`cell` formats one table cell by its column :data:`KIND`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

Kind = Literal["text", "int", "money", "mw", "w", "pct", "ms", "s", "number", "ratio", "date", "bool"]
KINDS: tuple[Kind, ...] = ("text", "int", "money", "mw", "w", "pct", "ms", "s", "number", "ratio", "date", "bool")
DASH = "–"  # an absent value


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures with thousands separators, never in scientific notation."""
    if not _finite(x):
        return DASH
    if x == 0:
        return "0"
    a = abs(x)
    if a < 1e-6:  # below a millionth of its unit: nothing a report reads
        return "≈0"
    if a >= 10 ** digits:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money(x: float | None, digits: int = 3) -> str:
    """$2.62M, $196K, $12.3B, $950, -$1.2M."""
    if x is None or not _finite(x):
        return DASH
    sign, a = ("-" if x < 0 else ""), abs(x)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div * 0.9995:
            return f"{sign}${sig(a / div, digits)}{suf}"
    return f"{sign}${sig(a, digits)}"


def _prefixed(x: float, unit: str, prefixes: tuple[tuple[float, str], ...], digits: int) -> str:
    a = abs(x)
    for div, p in prefixes:
        if a >= div * 0.9995:
            return f"{sig(x / div, digits)} {p}{unit}"
    div, p = prefixes[-1]
    return f"{sig(x / div, digits)} {p}{unit}"


POWER_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def watts(w: float | None, digits: int = 3) -> str:
    """450 W, 860 kW, 12.6 MW, 1.29 GW."""
    if w is None or not _finite(w):
        return DASH
    if w == 0:
        return "0 W"
    return _prefixed(w, "W", POWER_PREFIXES, digits)


def mw(x: float | None, digits: int = 3) -> str:
    """Megawatts written with the prefix their size asks for (0.045 MW -> 45 kW)."""
    return DASH if x is None or not _finite(x) else watts(x * 1e6, digits)


def seconds(s: float | None, digits: int = 3) -> str:
    """0.12 -> 120 ms; 1.4 -> 1.4 s; 4e-5 -> 40 µs; 5400 -> 1.5 h."""
    if s is None or not _finite(s):
        return DASH
    a = abs(s)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{sig(s * 1e6, digits)} µs"
    if a < 1:
        return f"{sig(s * 1e3, digits)} ms"
    if a < 3600 * 2:
        return f"{sig(s, digits)} s"
    return f"{sig(s / 3600, digits)} h"


def ms(x: float | None, digits: int = 3) -> str:
    return DASH if x is None or not _finite(x) else seconds(x / 1e3, digits)


def pct(frac: float | None, signed: bool = False) -> str:
    """A fraction as a percentage: 0.982 -> 98.2%, 0.00481 -> 0.48%, 1.0 -> 100%."""
    if frac is None or not _finite(frac):
        return DASH
    v = frac * 100
    a = abs(v)
    if a == 0:
        text = "0%"
    elif a >= 1000:
        text = f"{v:,.0f}%"
    elif a >= 1:
        text = f"{v:.1f}".rstrip("0").rstrip(".") + "%"
    else:
        text = sig(v, 2) + "%"
    return ("+" + text) if signed and v > 0 else text


def count(n: float | None) -> str:
    if n is None or not _finite(n):
        return DASH
    return f"{round(n):,}"


def ratio(x: float | None) -> str:
    return DASH if x is None or not _finite(x) else f"{sig(x)}×"


def number(x: float | None, unit: str = "", digits: int = 3) -> str:
    if x is None or not _finite(x):
        return DASH
    return sig(x, digits) + (f" {unit}" if unit else "")


def cell(v: Any, kind: Kind = "text", unit: str = "") -> str:
    """One table cell as text, by its column kind (see :data:`KINDS`)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return DASH
    if kind == "bool" or isinstance(v, bool):
        return v if isinstance(v, str) else ("yes" if v else "no")
    if kind == "text":
        return str(v) if not _finite(v) else number(float(v), unit)
    if kind == "date":
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    if not _finite(v):
        return str(v)
    x = float(v)
    if kind == "money":
        return money(x)
    if kind == "mw":
        return mw(x)
    if kind == "w":
        return watts(x)
    if kind == "pct":
        return pct(x)
    if kind == "ms":
        return ms(x)
    if kind == "s":
        return seconds(x)
    if kind == "int":
        return count(x) + (f" {unit}" if unit else "")
    if kind == "ratio":
        return ratio(x)
    return number(x, unit)


def scale_for(values: list[float], kind: Literal["money", "mw"]) -> tuple[float, str]:
    """A divisor and its unit label for a chart axis over ``values``: money in $, $K, $M, $B; power in W,
    kW, MW, GW (``values`` in $ or MW)."""
    top = max((abs(v) for v in values if _finite(v)), default=0.0)
    if kind == "money":
        for div, label in ((1e9, "$B"), (1e6, "$M"), (1e3, "$K")):
            if top >= div:
                return div, label
        return 1.0, "$"
    w = top * 1e6
    for div, p in POWER_PREFIXES:
        if w >= div:
            return div / 1e6, f"{p}W"
    return 1.0 / 1e6, "W"


__all__ = ["DASH", "KINDS", "Kind", "cell", "count", "money", "ms", "mw", "number", "pct", "ratio", "scale_for",
           "seconds", "sig", "watts"]
