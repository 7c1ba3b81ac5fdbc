"""``tokenfleet perf MODEL HARDWARE``: what the performance and power model predicts, layout by layout."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich.console import Console

from tokenfleet import catalog, perf
from tokenfleet.cli.tables import Column, table
from tokenfleet.errors import InputError
from tokenfleet.perf import Layout, SpecDecode
from tokenfleet.perf.layout import make_layout

console = Console()


MAX_CHIPS = 100_000  # chips (or systems) in one model replica; far beyond any published deployment


def _layouts(model: catalog.ModelSpec, hw: catalog.HardwareSpec, precision: str | None,
             chips: int | None) -> list[Layout]:
    if chips is None:
        return perf.candidate_layouts(model, hw, precision)
    if not hw.is_sram and chips > hw.scaleup_domain and chips % hw.scaleup_domain:
        raise InputError(f"--chips {chips} is not a multiple of the {hw.scaleup_domain}-chip scale-up domain")
    if chips > MAX_CHIPS:
        raise InputError(f"--chips {chips:,} is more than one replica can span (at most {MAX_CHIPS:,})")
    lay = make_layout(model, hw, chips, weight_precision=precision)
    if hw.family == "hbm" and model.n_heads % lay.tp:
        raise InputError(f"--chips {chips} gives tensor parallelism {lay.tp}, which does not divide "
                         f"{model.model_id}'s {model.n_heads} attention heads (use a divisor, e.g. a power of two)")
    if hw.family in ("hbm", "wafer") and lay.pp > model.n_layers:
        raise InputError(f"--chips {chips} gives {lay.pp} pipeline stages for {model.model_id}'s {model.n_layers} "
                         "layers: a stage needs at least one layer")
    perf.deploy(model, hw, lay)  # raises LayoutError saying what the model needs
    return [lay]


def perf_cmd(
    model_id: str = typer.Argument(..., help="Model id (tokenfleet catalog models)."),
    hw_id: str = typer.Argument(..., help="Hardware id (tokenfleet catalog hardware)."),
    chips: int = typer.Option(None, "--chips", help="Chips (GPUs, CS-3 systems, LPUs) per replica; default: "
                              "the smallest valid layout and its doublings."),
    precision: str = typer.Option(None, "--precision", help="Weight precision (bf16, fp8, fp4, int8)."),
    isl: int = typer.Option(1000, "--isl", help="Mean prompt tokens."),
    osl: int = typer.Option(500, "--osl", help="Mean output tokens."),
    ttft_ms: float = typer.Option(2000.0, "--ttft-ms", help="p99 TTFT bound for the server figure."),
    tpot_ms: float = typer.Option(50.0, "--tpot-ms", help="p99 TPOT bound for the server figure."),
    draft: str = typer.Option(None, "--spec-draft", help="Draft model id: turn on speculative decoding."),
    stack: bool = typer.Option(True, "--stack/--no-stack", help="Use the vendor's production serving stack "
                               "(e.g. speculative decoding on in Cerebras' API; perf.stacks) when no --spec-draft."),
    draft_tokens: int = typer.Option(4, "--spec-k", help="Tokens drafted per round."),
    acceptance: float = typer.Option(0.8, "--spec-acceptance", help="Per-token acceptance probability."),
    pue: float = typer.Option(perf.power.DEFAULT_PUE, "--pue", help="Facility PUE for energy per token."),
    weight_only: bool = typer.Option(False, "--weight-only", help="Weight-only quantised kernels (W8A16 / W4A16: "
                                     "AWQ, GPTQ, jetstream-pytorch int8): the format's bytes, 16-bit matmuls."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per layout: KV capacity, TTFT, per-user speed, offline and SLO-bound throughput, power, energy."""
    model, hw = catalog.model(model_id), catalog.hardware(hw_id)
    if isl < 1 or osl < 1:
        raise InputError("--isl and --osl must be >= 1")
    if chips is not None and chips < 1:
        raise InputError(f"--chips must be >= 1, got {chips}")
    if precision is not None and precision not in catalog.BYTES_PER_PARAM:
        raise InputError(f"unknown precision {precision!r} (known: {', '.join(catalog.BYTES_PER_PARAM)})",
                         where="--precision")
    if not 1.0 <= pue <= 3.0:
        raise InputError(f"--pue must be in [1.0, 3.0] (facility power over IT power), got {pue}")
    for name, v in (("--ttft-ms", ttft_ms), ("--tpot-ms", tpot_ms)):
        if not v > 0 or v == float("inf"):
            raise InputError(f"{name} must be a positive finite number, got {v}")
    if draft_tokens < 1 or draft_tokens > 64 or not 0.0 <= acceptance < 1.0:
        raise InputError(f"--spec-k must be in [1, 64] and --spec-acceptance in [0, 1), got {draft_tokens}, "
                         f"{acceptance}")
    if draft is not None:
        d = catalog.model(draft)
        if d.model_id == model.model_id or d.active_params >= model.active_params:
            raise InputError(f"the draft model {draft} ({d.active_params / 1e9:.3g}B active parameters) must be "
                             f"smaller than the target {model_id} ({model.active_params / 1e9:.3g}B)",
                             where="--spec-draft")
    rows: list[dict[str, Any]] = []
    production = perf.stacks.stack_for(hw.calibration_group)
    if draft is None and stack and production is not None and production.speculative:
        draft = perf.stacks.DRAFT_FOR.get(model_id)
        if draft is not None:
            draft_tokens, acceptance = production.draft_tokens, production.acceptance
    layouts = _layouts(model, hw, precision, chips)
    if weight_only:
        if any(catalog.BYTES_PER_PARAM[lay.weight_precision] >= 2.0 for lay in layouts):
            raise InputError("--weight-only needs quantised weights: give --precision int8, fp8, int4 or fp4",
                             where="--weight-only")
        layouts = [dataclasses.replace(lay, weight_only=True) for lay in layouts]
    for lay in layouts:
        dep = perf.deploy(model, hw, lay)
        spec = SpecDecode(perf.deploy(draft, hw, weight_precision=_draft_precision(draft, lay.weight_precision)),
                          draft_tokens, acceptance) if draft else None
        off = perf.steady.offline(dep, isl, osl, spec)
        srv = perf.steady.server(dep, isl, osl, ttft_ms / 1e3, tpot_ms / 1e3, spec)
        n = dep.num_chips + (spec.draft.num_chips if spec and dep.device.draft_has_own_units else 0)
        rows.append({
            "layout": lay.describe(), "chips": n, "kv_capacity_tokens": dep.kv_capacity_tokens,
            "ttft_ms": perf.single.ttft_s(dep, isl) * 1e3,
            "per_user_tok_s": perf.single.per_user_tok_s(dep, isl, osl, spec),
            "offline_tok_s_per_chip": off.output_tok_s / n, "offline_batch": off.batch,
            "server_tok_s_per_chip": srv.output_tok_s / n, "server_batch": srv.batch,
            "best_tpot_p99_ms": perf.steady.token_time_s(dep, 1, isl, osl, spec) * dep.params.tpot_p99_over_mean * 1e3,
            "idle_kw": perf.power.idle_power_w(dep, spec) / 1e3, "peak_kw": perf.power.peak_power_w(dep, spec) / 1e3,
            "j_per_token_offline": perf.power.joules_per_output_token(dep, off, isl, osl, pue, spec),
        })
    if as_json:
        typer.echo(json.dumps({"model": model_id, "hardware": hw_id, "isl": isl, "osl": osl, "rows": rows}, indent=1))
        return
    title = (f"{model_id} on {hw_id}: {isl} in / {osl} out; SLO p99 TTFT {ttft_ms:g} / TPOT {tpot_ms:g} ms"
             + (f"; speculative {draft} k={draft_tokens} a={acceptance}" if draft else ""))
    cols = [Column("layout", "id"), Column("n"), Column("KV"), Column("TTFT"), Column("tok/s/u"),
            Column("offline", priority=1), Column("at SLO"), Column("kW", priority=2), Column("J/tok")]
    cells = []
    for r in rows:
        kv = r["kv_capacity_tokens"]
        short = r["layout"].replace("/kv-fp8", "/kv8").replace("/kv-bf16", "/kv16").replace("/kv-fp4", "/kv4")
        cells.append([short, str(r["chips"]), f"{kv / 1e6:.1f}M" if kv >= 1e6 else f"{kv / 1e3:.0f}k",
                      f"{r['ttft_ms']:,.0f}",
                      f"{r['per_user_tok_s']:,.0f}", f"{r['offline_tok_s_per_chip']:,.0f}",
                      f"{r['server_tok_s_per_chip']:,.0f} B{r['server_batch']}" if r["server_batch"] else
                      f"0 (TPOT>={r['best_tpot_p99_ms']:,.0f})",
                      f"{r['idle_kw']:.2g}-{r['peak_kw']:.3g}", f"{r['j_per_token_offline']:.2f}"])
    console.print(table(title, cols, cells))
    console.print(f"n: {'systems' if dep.device.unit == 'systems' else 'chips'} per replica; KV: tokens of KV "
                  f"cache; TTFT ms; tok/s/u: per user; offline, at SLO: output tok/s per "
                  f"{'system' if dep.device.unit == 'systems' else 'chip'} (B: running sequences at the SLO); "
                  f"kW: idle-peak "
                  f"IT power; J/tok: offline, at PUE {pue:g}"
                  + ("; the vendor's production stack speculates (--no-stack: off)" if production is not None
                     and production.speculative and stack and draft else ""))


def _draft_precision(draft: str, target_precision: str) -> str:
    """A draft released in MXFP4 (gpt-oss-20b) stays in it; others take the target's precision."""
    return "fp4" if catalog.model(draft).native_precision == "fp4" else target_precision


def register(app: typer.Typer) -> None:
    app.command("perf")(perf_cmd)
