"""The serving traces shipped in the package (``workload/data/traces``, xz-compressed, with their sources,
checksums and licences in ``SOURCES.md`` there).

A scenario names one as ``shared:traces/<upstream file name>`` (``shared:traces/azure2023_conv.csv``); the
loaders read ``.xz`` and ``.gz`` files transparently, so a user's own compressed trace works by path too.
"""

from __future__ import annotations

import os
from pathlib import Path

TRACE_DIR = Path(__file__).resolve().parent / "data" / "traces"
COMPRESSED_SUFFIXES = (".xz", ".gz")
SHARED_ENV = "TOKENFLEET_SHARED"


def packaged_traces() -> list[str]:
    """The upstream file names of the packaged traces (``azure2023_code.csv``, ...)."""
    return sorted(p.name.removesuffix(".xz") for p in TRACE_DIR.glob("*.xz"))


def packaged_trace(name: str) -> Path:
    """The packaged copy of trace ``name`` (its upstream file name, with or without ``.xz``); the path may not
    exist when no such trace ships (:func:`packaged_traces` lists those that do)."""
    name = name.removesuffix(".xz")
    return TRACE_DIR / f"{name}.xz"


def resolve_shared(rel: str) -> Path:
    """``traces/x.csv`` (the part after ``shared:``) -> ``$TOKENFLEET_SHARED/data/traces/x.csv`` when that
    variable is set, else the packaged copy of ``x.csv``."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env).expanduser() / "data" / rel
    folder, _, name = rel.partition("/")
    if folder == "traces" and name and "/" not in name:
        return packaged_trace(name)
    return TRACE_DIR / rel  # not a packaged trace: a path that does not exist, named in the caller's error


def shared_hint(rel: str) -> str:
    """What to say when ``shared:<rel>`` names nothing."""
    if os.environ.get(SHARED_ENV):
        return f"${SHARED_ENV}/data/{rel} does not exist"
    return (f"no packaged trace shared:{rel}; packaged: "
            + ", ".join(f"shared:traces/{n}" for n in packaged_traces())
            + f" (or set ${SHARED_ENV} to a folder holding data/{rel})")


def uncompressed_name(path: Path) -> str:
    """``x.jsonl.xz`` -> ``x.jsonl``: the name whose suffix says the format."""
    name = path.name
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


__all__ = [
    "COMPRESSED_SUFFIXES",
    "SHARED_ENV",
    "TRACE_DIR",
    "packaged_trace",
    "packaged_traces",
    "resolve_shared",
    "shared_hint",
    "uncompressed_name",
]
