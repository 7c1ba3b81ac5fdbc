"""Turn a scenario's traffic classes into one merged, lazy request stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tokenfleet.scenario import LengthSpec, Scenario, resolve_data_path
from tokenfleet.workload import (
    HASH_NAMESPACE,
    LengthDist,
    Request,
    Source,
    SyntheticSource,
    TraceSource,
    load_trace,
    merge,
)


def length_dist(s: LengthSpec) -> LengthDist:
    return LengthDist(s.dist, s.value or 0, s.low or 1, s.high or 1, s.mean or 0.0, s.cv, s.min_tokens, s.max_tokens)


def class_sources(sc: Scenario, base_dir: Path) -> list[tuple[str, Source]]:
    out: list[tuple[str, Source]] = []
    for i, c in enumerate(sc.traffic):
        a = c.arrivals
        seed = sc.sim.seed * 1000 + i
        batch = load_trace(resolve_data_path(a.trace, base_dir), a.format, seed=seed) if a.trace else None
        src: Source
        if a.process is None:
            assert batch is not None
            src = TraceSource(batch, a.rate_multiplier, a.loop, hash_offset=i * HASH_NAMESPACE)
        else:
            src = SyntheticSource(
                a.process,
                float(a.rate_rps or 0.0),
                length_dist(c.input_tokens) if c.input_tokens else None,
                length_dist(c.output_tokens) if c.output_tokens else None,
                batch if a.lengths_from_trace else None,
                a.cv,
                a.peak_to_mean,
                a.period_s,
                seed,
            )
        out.append((c.name, src))
    return out


def scenario_requests(sc: Scenario, base_dir: Path) -> Iterator[Request]:
    return merge(class_sources(sc, base_dir), sc.sim.max_requests, sc.sim.duration_s)


__all__ = ["class_sources", "length_dist", "scenario_requests"]
