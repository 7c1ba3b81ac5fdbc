"""Predict a published result from the model: the bridge between :mod:`results` and the physics.

For throughput metrics on a system of ``num_chips`` accelerators the prediction is what a submitter would
do: the best layout whose chip count divides ``num_chips``, replicated ``num_chips / layout`` times. For
single-stream metrics the model spans all ``num_chips`` (or the smallest valid layout when unpublished).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tokenfleet import catalog
from tokenfleet.catalog import HardwareSpec, ModelSpec
from tokenfleet.errors import LayoutError, TokenfleetError
from tokenfleet.perf import published, single, stacks, steady
from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.layout import Layout, candidate_layouts, make_layout, min_layout, served_precision
from tokenfleet.perf.params import EfficiencyParams, params_for
from tokenfleet.perf.params import engine_speed as engine_speed_of
from tokenfleet.perf.results import PublishedResult
from tokenfleet.perf.single import SpecDecode
from tokenfleet.perf.stacks import DRAFT_FOR

__all__ = ["DRAFT_FOR", "Prediction", "SkipRow", "not_a_check", "predict", "row_calibration_key", "row_engine"]

# Speculative decoding assumed where a result says it was on but not how (Leviathan et al. 2023 report
# 0.6-0.9 acceptance for same-family drafts; 4 drafted tokens is the common default in vLLM / TRT-LLM).
# Vendor API rows with spec_decode = unknown take their serving stack's production setting (perf.stacks).
DEFAULT_SPEC_ACCEPTANCE = 0.8
DEFAULT_SPEC_TOKENS = 4
# cost model for usd_per_mtok: hardware amortised over 4 years, power at a hyperscale PUE and price
DEPRECIATION_YEARS = 4.0
PUE = 1.2
USD_PER_MWH = 80.0


class SkipRow(TokenfleetError):
    """The row cannot be predicted; the message says why."""


@dataclass(frozen=True, slots=True)
class Prediction:
    result: PublishedResult
    predicted: float | None
    layout: str = ""
    skipped: str = ""

    @property
    def pct_error(self) -> float | None:
        if self.predicted is None:
            return None
        return 100.0 * (self.predicted - self.result.value) / self.result.value


def not_a_check(res: PublishedResult) -> str:
    """Why a row is a record rather than a check ("" when it is a check): a blank ``metric_id`` (the file's
    README: "blank = not usable as a check") or a blank ``workload_id`` (lengths not published)."""
    if res.is_record:
        return "not a check: metric_id is blank (a record of the published figure, not usable as a check)"
    if not res.workload_id:
        return "not a check: workload_id is blank (input / output lengths not published)"
    return ""


def _resolve(res: PublishedResult) -> tuple[ModelSpec, HardwareSpec, str, float, float]:
    hw = catalog.hardware(res.hw_id)
    model = catalog.model(res.model_id)
    try:
        wl = catalog.workload(res.workload_id)
    except TokenfleetError:
        raise SkipRow(f"unknown workload {res.workload_id!r}: input/output lengths not known") from None
    return model, hw, res.precision or served_precision(model, hw), wl.input_tokens_mean, wl.output_tokens_mean


def row_date(res: PublishedResult) -> str:
    return str(getattr(res, "date", "") or "")


def row_calibration_key(res: PublishedResult) -> str:
    """The calibration key a row is fitted under: its hardware's group, or ``group@stack`` (perf.stacks)."""
    return stacks.calibration_key(catalog.hardware(res.hw_id).calibration_group, row_date(res))


def _span_layout(model: ModelSpec, hw: HardwareSpec, precision: str, chips: int | None) -> Layout:
    lay = make_layout(model, hw, chips, weight_precision=precision)
    if lay.num_chips < min_layout(model, hw, precision).num_chips:
        raise LayoutError(f"{model.model_id} needs {min_layout(model, hw, precision).num_chips} {hw.hw_id}, "
                          f"the result used {chips}")
    return lay


def _spec(res: PublishedResult, dep: Deployment, params: EfficiencyParams | None) -> SpecDecode | None:
    stack = stacks.speculative_on(dep.hw.calibration_group, res.spec_decode, row_date(res))
    if stack is None or res.model_id not in DRAFT_FOR:
        return None
    draft_model = catalog.model(DRAFT_FOR[res.model_id])
    if res.spec_decode != "yes" and not stacks.worth_speculating(dep.model, draft_model):
        return None  # the stack's default, but not for this pair
    wp = dep.layout.weight_precision if draft_model.native_precision != "fp4" else "fp4"
    draft = Deployment(draft_model, dep.hw, min_layout(draft_model, dep.hw, wp), params or dep.params)
    # a row that publishes its draft length is taken at its word ("speculation length 7")
    m = re.search(r"speculation length (\d+)", res.notes or "")
    return SpecDecode(draft, int(m.group(1)) if m else stack.draft_tokens, stack.acceptance)


def _best_replicated(res: PublishedResult, model: ModelSpec, hw: HardwareSpec, precision: str, isl: float,
                     osl: float, params: EfficiencyParams | None) -> tuple[float, str]:
    chips = res.num_chips
    run = published.run_config(res)
    if res.metric in ("per_chip_tok_s", "usd_per_mtok") and (chips or 1) == 1:
        # per-accelerator figures (InferenceX, cost tables) are a whole server's throughput divided by its
        # chips: any layout within one scale-up domain when the row names no system (or "1" chip)
        chips = None
        layouts = candidate_layouts(model, hw, precision, max_chips=max(hw.scaleup_domain,
                                                                         min_layout(model, hw, precision).num_chips))
    else:
        layouts = [lay for lay in candidate_layouts(model, hw, precision, max_chips=chips or None)
                   if chips is None or chips % lay.num_chips == 0]
        if chips is None:
            layouts = layouts[:1]
    if run.tp and any(lay.tp == run.tp for lay in layouts):  # the run's published tensor parallelism
        layouts = [lay for lay in layouts if lay.tp == run.tp]
    if run.weight_only:  # the engine's int8 / int4 kernels dequantise to 16 bits
        layouts = [dataclasses.replace(lay, weight_only=True) for lay in layouts]
    if run.attention_dp and hw.family == "hbm":  # the run's attention data parallelism
        layouts = [dataclasses.replace(lay, attention_dp=True) for lay in layouts]
    if not layouts:
        first = min_layout(model, hw, precision)
        raise SkipRow(f"{model.model_id} in {precision} needs {first.num_chips} {hw.hw_id}; the result used {chips}")
    scored: list[tuple[float, str]] = []
    for lay in layouts:
        dep = Deployment(model, hw, lay, params)
        replicas = (chips or lay.num_chips) // lay.num_chips
        # a published batch cap is the measured system's (one engine when its TP is published, else the
        # benchmark's concurrency over the whole system): each replica gets its share
        cap = run.max_batch if run.max_batch is None or run.tp else max(1, run.max_batch // replicas)
        decode_only = catalog.workload(res.workload_id).decode_only
        if res.metric in ("offline_tok_s", "max_aggregate_tok_s"):
            op = steady.offline(dep, isl, osl, cap=cap, decode_only=decode_only)
            value = op.output_tok_s * replicas
        elif res.metric == "server_tok_s":
            if res.ttft_p99_ms is None or res.tpot_p99_ms is None:
                raise SkipRow("server_tok_s needs ttft_p99_ms and tpot_p99_ms")
            op = steady.server(dep, isl, osl, res.ttft_p99_ms / 1e3, res.tpot_p99_ms / 1e3, cap=cap)
            value = op.output_tok_s * replicas
        else:  # per_chip_tok_s / usd_per_mtok at a per-user speed (none published: the most per chip)
            if res.user_tok_s is None and res.metric == "usd_per_mtok":
                raise SkipRow(f"{res.metric} needs user_tok_s")
            op = (steady.offline(dep, isl, osl, cap=cap, decode_only=decode_only) if res.user_tok_s is None else
                  steady.at_user_speed(dep, isl, osl, res.user_tok_s, cap=cap, decode_only=decode_only))
            value = op.output_tok_s / lay.num_chips
            if res.metric == "usd_per_mtok":
                value = _usd_per_mtok(hw, value) if value > 0 else float("inf")
        scored.append((value, f"{replicas}x({lay.describe()}) B={op.batch}"))
    pick = min if res.metric == "usd_per_mtok" else max
    value, desc = pick(scored, key=lambda s: s[0])
    if value == float("inf") or (value <= 0 and res.metric in ("per_chip_tok_s", "server_tok_s")):
        best = min(steady.token_time_s(Deployment(model, hw, lay, params), 1, isl, osl) for lay in layouts)
        bound = (f"{res.user_tok_s} tok/s per user" if res.metric != "server_tok_s"
                 else f"p99 TPOT {res.tpot_p99_ms} ms / TTFT {res.ttft_p99_ms} ms")
        raise SkipRow(f"no layout of {model.model_id} on {hw.hw_id} reaches {bound}: the best TPOT any layout "
                      f"reaches is {best * 1e3:.1f} ms ({1 / best:.0f} tok/s per user)")
    return value, desc


def _usd_per_mtok(hw: HardwareSpec, tok_s_per_chip: float) -> float:
    capex_per_h = hw.price_usd / (DEPRECIATION_YEARS * 8760.0)
    power_per_h = (hw.system_power_w / hw.chips_per_system) * PUE / 1e6 * USD_PER_MWH
    return (capex_per_h + power_per_h) / (tok_s_per_chip * 3600.0) * 1e6


def row_engine(res: PublishedResult) -> str | None:
    """The serving engine of an HBM row (perf.stacks.engine_of); None for dataflow rows (vendor stacks)."""
    hw = catalog.hardware(res.hw_id)
    return stacks.engine_of(res.notes, hw.vendor) if hw.family == "hbm" else None


def predict(res: PublishedResult, params: EfficiencyParams | None = None,
            engine_speed: float | None = None) -> Prediction:
    """Predict one published result; unsupported rows come back with ``skipped`` set to the reason.

    ``engine_speed``: speed of the row's serving engine relative to the reference (default: the packaged
    calibration's figure for the engine its notes name; dataflow rows have none)."""
    if why := not_a_check(res):
        return Prediction(res, None, skipped=why)
    try:
        model, hw, precision, isl, osl = _resolve(res)
        if params is None:
            params = params_for(row_calibration_key(res), hw.family)
        params = params.at_date(row_date(res))  # the software of the row's time (HBM generations)
        if engine_speed is None:
            engine = row_engine(res)
            engine_speed = engine_speed_of(engine) if engine else 1.0
        params = params.at_engine(engine_speed).at_clock(
            published.clock_factor(hw, published.run_config(res).power_cap_w))  # a published power cap
        if res.metric in ("per_user_tok_s", "ttft_ms"):
            lay = _span_layout(model, hw, precision, res.num_chips)
            dep = Deployment(model, hw, lay, params)
            if res.metric == "ttft_ms":
                return Prediction(res, single.ttft_s(dep, int(isl)) * 1e3, lay.describe())
            spec = _spec(res, dep, params)
            tag = f" +spec({spec.draft.model.model_id}, k={spec.draft_tokens}, a={spec.acceptance})" if spec else ""
            return Prediction(res, single.per_user_tok_s(dep, int(isl), int(osl), spec), lay.describe() + tag)
        if res.metric in ("offline_tok_s", "max_aggregate_tok_s", "server_tok_s", "per_chip_tok_s",
                          "usd_per_mtok"):
            value, desc = _best_replicated(res, model, hw, precision, isl, osl, params)
            return Prediction(res, value, desc)
        raise SkipRow(f"metric {res.metric!r} is not supported")
    except SkipRow as exc:
        return Prediction(res, None, skipped=str(exc))
    except LayoutError as exc:
        return Prediction(res, None, skipped=str(exc))
