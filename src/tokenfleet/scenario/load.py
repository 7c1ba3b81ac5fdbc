"""Reading a scenario file: YAML -> :class:`Scenario`, with errors that name the file and field, data
paths resolved, and catalog ids checked."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from tokenfleet import catalog
from tokenfleet.errors import ScenarioError, TokenfleetError, UnknownIdError
from tokenfleet.scenario.model import Scenario
from tokenfleet.workload.packaged import resolve_shared, shared_hint
from tokenfleet.yamlio import read_mapping

S = TypeVar("S", bound=Scenario)
SHARED_PREFIX = "shared:"


def _fmt_loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def resolve_data_path(ref: str, base_dir: Path) -> Path:
    """``shared:traces/x.csv`` -> the packaged copy of trace ``x.csv`` (or ``$TOKENFLEET_SHARED/data/traces/x.csv``
    when that variable is set); other paths are the user's, relative to ``base_dir``."""
    if ref.startswith(SHARED_PREFIX):
        return resolve_shared(ref[len(SHARED_PREFIX) :])
    p = Path(ref).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()


def parse_scenario(data: object, where: str = "scenario", model: type[S] = Scenario) -> S:  # type: ignore[assignment]
    """Validate an already-parsed mapping; errors read ``where: field.path: reason``."""
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping at the top level", where=where)
    try:
        sc = model.model_validate(data)
    except ValidationError as exc:
        msgs = [f"{_fmt_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ScenarioError("; ".join(msgs), where=where) from None
    for i, c in enumerate(sc.traffic):
        _check_id("model", c.model, f"{where}: traffic.{i}.model")
    _check_routing(sc, where)
    for i, p in enumerate(sc.pools):
        _check_id("hardware", p.hardware, f"{where}: pools.{i}.hardware")
        if p.model:
            _check_id("model", p.model, f"{where}: pools.{i}.model")
        for key in ("weight_precision", "kv_precision"):
            prec = getattr(p.layout, key)
            if prec is not None and prec not in catalog.BYTES_PER_PARAM:
                raise ScenarioError(
                    f"unknown precision {prec!r} (known: {', '.join(catalog.BYTES_PER_PARAM)})",
                    where=f"{where}: pools.{i}.layout.{key}",
                )
        if p.speculative is not None and sc.traffic:
            _check_draft(p.speculative.draft_model, p.model or sc.traffic[0].model,
                         f"{where}: pools.{i}.speculative.draft_model")
    return sc


def _check_routing(sc: Scenario, where: str) -> None:
    """The policy and its scorer weights exist (built once here, again by the simulator)."""
    from tokenfleet.routing.registry import build_profile

    try:
        build_profile(sc.routing.as_dict(), sc.sim.seed)
    except TokenfleetError as exc:
        msg = str(exc)
        for prefix in ("routing.policy: ", "routing.weights: ", "routing: "):
            msg = msg.removeprefix(prefix)
        raise ScenarioError(msg, where=f"{where}: routing") from None


def _check_draft(draft: str, target: str, where: str) -> None:
    """The draft model exists, is not the target and is smaller than it."""
    _check_id("model", draft, where)
    if draft == target:
        raise ScenarioError(f"the draft model must be smaller than the target, not the target itself ({target})",
                            where=where)
    d, t = catalog.model(draft), catalog.model(target)
    if d.total_params >= t.total_params:
        raise ScenarioError(
            f"draft {draft} ({d.total_params / 1e9:,.1f}B parameters) must be smaller than the target {target} "
            f"({t.total_params / 1e9:,.1f}B)",
            where=where,
        )


def _check_id(kind: str, ident: str, where: str) -> None:
    try:
        catalog.hardware(ident) if kind == "hardware" else catalog.model(ident)
    except UnknownIdError as exc:
        raise ScenarioError(str(exc), where=where) from None


def load_scenario(path: str | Path, model: type[S] = Scenario) -> tuple[S, Path]:  # type: ignore[assignment]
    """Read and validate ``path``; returns the scenario and the directory data paths are relative to."""
    path = Path(path)
    data = read_mapping(path)
    sc = parse_scenario(data, str(path), model)
    base = path.resolve().parent
    for i, c in enumerate(sc.traffic):
        if c.arrivals.trace is not None:
            ref = c.arrivals.trace
            p = resolve_data_path(ref, base)
            if not p.is_file():
                if ref.startswith(SHARED_PREFIX) and not p.exists():
                    msg = shared_hint(ref[len(SHARED_PREFIX) :])
                else:
                    msg = f"trace file not found: {p}" if not p.exists() else f"trace is not a regular file: {p}"
                raise ScenarioError(msg, where=f"{path}: traffic.{i}.arrivals.trace")
    check_looped_work(sc, base, str(path))
    return sc, base


def check_looped_work(sc: Scenario, base: Path, where: str) -> None:
    """A looped trace replays forever: refuse a duration that would simulate too many requests, with the
    estimate (requests in the trace / its span x rate_multiplier x duration)."""
    from tokenfleet.scenario.model import MAX_SIM_REQUESTS, SIM_REQUESTS_PER_S
    from tokenfleet.workload import load_trace

    dur = sc.sim.duration_s
    looped = [c for c in sc.traffic if c.arrivals.loop and c.arrivals.trace is not None]
    if dur is None or not looped:
        return
    n = 0.0
    for c in looped:
        b = load_trace(resolve_data_path(c.arrivals.trace or "", base), c.arrivals.format, sc.sim.seed)
        span = max(b.duration_s, 1e-3)
        n += len(b) / span * c.arrivals.rate_multiplier * dur
    if sc.sim.max_requests is not None:
        n = min(n, float(sc.sim.max_requests))
    if n > MAX_SIM_REQUESTS:
        raise ScenarioError(
            f"looped traces for {dur:,.6g} s would simulate ~{n:.2g} requests (~{n / SIM_REQUESTS_PER_S / 3600:,.3g} h "
            f"at ~{SIM_REQUESTS_PER_S:,.0f} requests/s); at most {MAX_SIM_REQUESTS:.0e} per run: lower sim.duration_s "
            "or rate_multiplier, or set sim.max_requests",
            where=f"{where}: sim.duration_s",
        )


__all__ = ["check_looped_work", "load_scenario", "parse_scenario", "resolve_data_path"]
