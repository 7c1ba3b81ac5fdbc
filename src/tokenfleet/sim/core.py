"""Which simulator core runs: the compiled twin or the pure-Python modules, with the same results.

The core is seven modules: ``sim/seq``, ``sim/kv``, ``sim/itertime``, ``sim/steptime``, ``sim/replica``,
``sim/loop`` and ``routing/fast``. Each ``.py`` is the pure-Python core and, with the ``.pxd`` beside it (C
types only, no logic), the source of its compiled twin ``tokenfleet._c.<module>``, which ``setup.py``
builds with Cython when the package is installed and a C compiler exists. Each twin carries the SHA-256 of
the source it was compiled from; a twin whose source has changed since (an edited checkout not reinstalled)
is not used. Choose with ``core=`` (``"auto"``, ``"compiled"``, ``"python"``) or ``TOKENFLEET_CORE``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tokenfleet.errors import InputError

CORE_MODULES = ("sim.seq", "sim.kv", "sim.itertime", "sim.steptime", "sim.replica", "sim.loop", "routing.fast")
CHOICES = ("auto", "compiled", "python")
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Core:
    """The classes a simulation is built from, all from one core."""

    name: str  # "compiled" or "python"
    note: str  # why this core (what ``tokenfleet simulate`` prints)
    replica: Any  # Replica class
    loop: Any  # EventLoop class
    fast_index: Any  # routing.fast.fast_index

    def describe(self) -> str:
        return f"{self.name} ({self.note})"


def source_digest(module: str) -> str:
    """SHA-256 of a core module's source: the ``.py`` and, where there is one, the ``.pxd``."""
    base = PACKAGE.joinpath(*module.split("."))
    h = hashlib.sha256(base.with_suffix(".py").read_bytes())
    pxd = base.with_suffix(".pxd")
    if pxd.is_file():
        h.update(pxd.read_bytes())
    return h.hexdigest()


def _modules(prefix: str) -> dict[str, ModuleType]:
    return {m: importlib.import_module(f"{prefix}.{m}") for m in CORE_MODULES}


def _core(name: str, note: str, mods: dict[str, ModuleType]) -> Core:
    return Core(name, note, mods["sim.replica"].Replica, mods["sim.loop"].EventLoop, mods["routing.fast"].fast_index)


@cache
def compiled_status() -> tuple[dict[str, ModuleType] | None, str]:
    """The compiled twins if they are built and current, and a line saying why (not)."""
    try:
        mods = _modules("tokenfleet._c")
    except ImportError as exc:
        return None, f"compiled core not built ({exc.name or exc}): reinstall with a C compiler"
    stale = [m for m, mod in mods.items() if getattr(mod, "__source_sha256__", None) != source_digest(m)]
    if stale:
        return None, f"compiled core out of date for {', '.join(stale)}: reinstall (pip install -e .)"
    return mods, "Cython build of the core modules"


def load_core(choice: str | None = None) -> Core:
    """The core for ``choice`` (default: ``$TOKENFLEET_CORE`` or ``auto``, the compiled one where it is current)."""
    choice = (choice or os.environ.get("TOKENFLEET_CORE") or "auto").lower()
    if choice not in CHOICES:
        raise InputError(f"unknown simulator core {choice!r} (choose from {', '.join(CHOICES)})", where="core")
    mods, why = compiled_status() if choice != "python" else (None, "chosen")
    if mods is not None:
        return _core("compiled", why, mods)
    if choice == "compiled":
        raise InputError(why, where="core")
    return _core("python", why, _modules("tokenfleet"))


__all__ = ["CHOICES", "CORE_MODULES", "Core", "compiled_status", "load_core", "source_digest"]
