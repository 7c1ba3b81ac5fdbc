"""``tokenfleet catalog``: list and show hardware, model and workload entries.

``tokenfleet catalog hardware`` lists every entry with its key figures; ``tokenfleet catalog hardware h100``
shows every field with its source and flag. ``--json`` prints the same data as JSON. An unknown id raises
:class:`~tokenfleet.errors.UnknownIdError` (the CLI root prints it with the closest ids and exits 2).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console, RenderableType

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec, ModelSpec, WorkloadSpec
from tokenfleet.cli.tables import Column, table
from tokenfleet.errors import InputError

_JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")
_ID_ARG = typer.Argument(None, help="Show one entry with every field, its source and flag.")

_HW_DERIVED = ("system_price_usd", "host_power_w_per_chip", "is_sram")
_MODEL_DERIVED = ("total_params", "active_params", "is_moe", "is_mla", "expert_params_total")


def _fmt(value: Any, precise: bool = False) -> str:
    """A human rendering of one field value: compact for list tables, every digit when ``precise``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if precise and isinstance(value, float):
        return f"{value:,.10g}" if abs(value) < 1e15 else f"{value:.6e}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e9:
            return f"{value / 1e9:,.2f}e9"
        if abs(value) >= 100 or value == int(value):
            return f"{value:,.0f}"
        return f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v, precise)}" for k, v in value.items()) or "-"
    return str(value)


def _record(spec: Any, derived: tuple[str, ...]) -> dict[str, Any]:
    """All dataclass fields of ``spec`` plus its named derived properties."""
    out: dict[str, Any] = dataclasses.asdict(spec)
    for name in derived:
        out[name] = getattr(spec, name)
    return out


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def _detail_table(title: str, record: dict[str, Any], derived: tuple[str, ...],
                  sources: dict[str, str], flags: dict[str, str]) -> RenderableType:
    rows = []
    for name, value in record.items():
        if name in ("sources", "flags"):
            continue
        source = sources.get(name, "derived from the fields above" if name in derived else "")
        shown = str(value) if name == "year" else _fmt(value, precise=True)
        rows.append([name, shown, flags.get(name, ""), source])
    cols = [Column("field", "id"), Column("value", "text", min_width=12), Column("flag", "text"),
            Column("source", "text", min_width=24)]
    return table(title, cols, rows)


def _load_models() -> list[ModelSpec]:
    try:
        return catalog.all_models()
    except FileNotFoundError:
        raise InputError("the model catalog is not installed", where="catalog/data/models.yaml") from None


def _model(model_id: str) -> ModelSpec:
    _load_models()
    return catalog.model(model_id)


# ---- hardware ---------------------------------------------------------------------------------------------
# priority: which columns go first at 80 columns (0: always shown)
_HW_COLS = (Column("id", "id"), Column("vendor", "text", 4), Column("family", "text", 3), Column("bf16"),
            Column("fp8", priority=1), Column("fp4", priority=2), Column("mem GB"), Column("mem TB/s"),
            Column("link GB/s", priority=5), Column("domain", priority=6), Column("TDP W", priority=1),
            Column("chips/sys", priority=5), Column("sys kW", priority=4), Column("$/chip", priority=1),
            Column("flags", priority=7))


def _hardware_list(specs: list[HardwareSpec]) -> RenderableType:
    rows = [[
        h.hw_id, h.vendor, h.family,
        *(_fmt(h.dense_tflops[p]) if p in h.dense_tflops else "-" for p in ("bf16", "fp8", "fp4")),
        _fmt(h.memory_gb), _fmt(h.memory_bw_tbps), _fmt(h.scaleup_bw_gbps), _fmt(h.scaleup_domain),
        _fmt(h.chip_power_w), _fmt(h.chips_per_system), f"{h.system_power_w / 1000:,.1f}",
        _fmt(h.price_usd), str(len(h.flags)),
    ] for h in specs]
    return table("Hardware catalog (dense TFLOPS per chip; memory and power per chip/unit)", _HW_COLS, rows)


def hardware_cmd(hw_id: str | None = _ID_ARG, as_json: bool = _JSON_OPT) -> None:
    """List accelerators and systems, or show one with every figure's source."""
    _show(hw_id, as_json, catalog.all_hardware, catalog.hardware, _HW_DERIVED, _hardware_list,
          lambda h: f"{h.hw_id}: {h.vendor} {h.name}")


# ---- models -----------------------------------------------------------------------------------------------
_MODEL_COLS = (Column("id", "id"), Column("name", "text", 5, min_width=16), Column("layers", priority=3),
               Column("hidden", priority=4), Column("heads/kv", priority=6), Column("experts", priority=2),
               Column("total B"), Column("active B"), Column("context", priority=1))


def _models_list(specs: list[ModelSpec]) -> RenderableType:
    rows = []
    for m in specs:
        experts = f"{m.n_active_experts}/{m.n_experts}" if m.is_moe else "-"
        rows.append([m.model_id, m.name, _fmt(m.n_layers), _fmt(m.hidden), f"{m.n_heads}/{m.n_kv_heads}",
                     experts, f"{m.total_params / 1e9:,.1f}", f"{m.active_params / 1e9:,.1f}",
                     _fmt(m.max_context)])
    return table("Model catalog (parameters derived from the architecture)", _MODEL_COLS, rows)


def models_cmd(model_id: str | None = _ID_ARG, as_json: bool = _JSON_OPT) -> None:
    """List model architectures, or show one with its derived parameter counts."""
    _show(model_id, as_json, _load_models, _model, _MODEL_DERIVED, _models_list,
          lambda m: f"{m.model_id}: {m.name}")


# ---- workloads --------------------------------------------------------------------------------------------
_WL_COLS = (Column("id", "id"), Column("input mean"), Column("output mean"), Column("input max", priority=2),
            Column("output max", priority=2), Column("estimated", "text", 3), Column("description", "text", 1,
                                                                                    min_width=24))


def _workloads_list(specs: list[WorkloadSpec]) -> RenderableType:
    rows = [[w.workload_id, _fmt(w.input_tokens_mean), _fmt(w.output_tokens_mean), _fmt(w.input_tokens_max),
             _fmt(w.output_tokens_max), "yes" if "ESTIMATE" in w.notes else "", w.description] for w in specs]
    return table("Workload catalog (tokens per request; max 0 = not published)", _WL_COLS, rows)


_WL_FIELDS = {"input mean": "input_tokens_mean", "output mean": "output_tokens_mean",
              "input max": "input_tokens_max", "output max": "output_tokens_max"}


def workload_provenance(w: WorkloadSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Sources and flags of a workload's figures.

    WorkloadSpec has one ``source_url``; estimates are marked in ``notes`` by the phrases
    "ESTIMATE input mean", "DERIVED output mean" and so on (convention of data/workloads.yaml).
    """
    sources = {f: w.source_url for f in _WL_FIELDS.values()}
    flags = {}
    for phrase, field in _WL_FIELDS.items():
        for flag in ("ESTIMATE", "DERIVED", "CONFLICTING"):
            if f"{flag} {phrase}" in w.notes:
                flags[field] = flag
    return sources, flags


def workloads_cmd(workload_id: str | None = _ID_ARG, as_json: bool = _JSON_OPT) -> None:
    """List benchmark workload shapes, or show one with its source."""
    _show(workload_id, as_json, catalog.all_workloads, catalog.workload, (), _workloads_list,
          lambda w: f"{w.workload_id}: {w.description}")


# ---- shared -----------------------------------------------------------------------------------------------
def _show(ident: str | None, as_json: bool, all_fn: Callable[[], list[Any]], one_fn: Callable[[str], Any],
          derived: tuple[str, ...], list_table: Callable[[list[Any]], RenderableType],
          title: Callable[[Any], str]) -> None:
    if ident is None:
        specs = all_fn()
        if as_json:
            _print_json([_record(s, derived) for s in specs])
        else:
            Console().print(list_table(specs))
        return
    spec = one_fn(ident)
    record = _record(spec, derived)
    if as_json:
        _print_json(record)
        return
    if isinstance(spec, WorkloadSpec):
        sources, flags = workload_provenance(spec)
    else:
        sources = dict(getattr(spec, "sources", {}) or {})
        flags = dict(getattr(spec, "flags", {}) or {})
        if isinstance(spec, ModelSpec):  # architecture figures all come from the model's published config
            sources = {f.name: spec.source_url for f in dataclasses.fields(spec)
                       if f.name not in ("model_id", "name", "source_url", "notes")} | sources
    sources.setdefault("notes", "see source_url")
    Console().print(_detail_table(title(spec), record, derived, sources, flags))


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="List and show catalog entries (hardware, models, workloads).",
                      no_args_is_help=True)
    sub.command("hardware")(hardware_cmd)
    sub.command("models")(models_cmd)
    sub.command("workloads")(workloads_cmd)
    app.add_typer(sub, name="catalog")
