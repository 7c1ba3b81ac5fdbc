"""A request's SLO class, from its model name (``llama-3.3-70b:fast``) or headers.

Precedence: the ``:suffix`` of the model name (a class name, or a tier name such as ``batch``), then the
``x-slo-class`` / ``x-slo-tier`` headers, then the gateway's default class. ``x-slo-ttft-ms`` and
``x-slo-tpot-ms`` tighten or set the class's targets for this one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tokenfleet.gateway.config import TIERS, GatewayConfig
from tokenfleet.gateway.openai_models import ApiError, bad_request


@dataclass(frozen=True, slots=True)
class RequestClass:
    model: str  # the public model name, suffix removed
    name: str  # the class name (a key of GATEWAY.yaml ``classes``)
    tier: str
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    max_queue_ms: float


def _header_ms(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"header {name} must be a number of milliseconds, got {raw!r}",
                          param=name) from None
    if not 0 < value < 1e9:  # NaN and inf fail too
        raise bad_request(f"header {name} must be a finite number of milliseconds > 0, got {raw!r}",
                          param=name)
    return value


def _class_named(cfg: GatewayConfig, name: str, where: str) -> str:
    if name in cfg.classes:
        return name
    if name in TIERS:
        by_tier = cfg.class_for_tier(name)
        if by_tier is not None:
            return by_tier
    known = sorted(set(cfg.classes) | {t for t in TIERS if cfg.class_for_tier(t)})
    raise ApiError(404 if where == "model" else 400,
                   f"unknown SLO class {name!r} in {where}; known: {', '.join(known)}",
                   "invalid_request_error", "model_not_found" if where == "model" else "invalid_slo_class",
                   where)


def classify(model: str, headers: Mapping[str, str], cfg: GatewayConfig) -> RequestClass:
    base, sep, suffix = model.rpartition(":")
    if sep and suffix and base:
        public, name = base, _class_named(cfg, suffix, "model")
    else:
        public = model
        hdr = headers.get("x-slo-class") or headers.get("x-slo-tier")
        name = _class_named(cfg, hdr, "header x-slo-class") if hdr else cfg.default_class
    cls = cfg.classes[name]
    ttft = _header_ms(headers, "x-slo-ttft-ms")
    tpot = _header_ms(headers, "x-slo-tpot-ms")
    return RequestClass(public, name, cls.tier,
                        ttft if ttft is not None else cls.ttft_ms,
                        tpot if tpot is not None else cls.tpot_ms, cls.max_queue_ms)


__all__ = ["RequestClass", "classify"]
