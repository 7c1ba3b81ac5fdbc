"""Pools of replicas built from a scenario: one :class:`~tokenfleet.perf.Deployment` per pool, reused by
all its replicas, plus the static figures routing needs ($ per token, joules per token, prefill rate)."""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet import catalog, perf
from tokenfleet.errors import ScenarioError, TokenfleetError
from tokenfleet.perf.layout import kv_bytes_per_token
from tokenfleet.scenario import PoolSpec, Scenario
from tokenfleet.sim.replica import SchedulerConfig

SECONDS_PER_YEAR = 365.0 * 86400.0
PREFILL_PROBE_TOKENS = 2048


@dataclass(frozen=True, slots=True)
class Pool:
    idx: int
    name: str
    spec: PoolSpec
    model: str
    dep: perf.Deployment
    cfg: SchedulerConfig
    replicas: int
    tiers: frozenset[str]
    prefill_tok_per_s: float
    usd_per_s: float  # hardware amortisation of one replica
    usd_per_mtok: float  # at the classes' mean lengths, offline steady state
    joules_per_token: float
    kv_bytes_per_token: float

    @property
    def role(self) -> str:
        return self.spec.role


def _deployment(sc: Scenario, i: int, p: PoolSpec, model: str) -> perf.Deployment:
    """The pool's replica model; with ``speculative`` set, a target + draft pair (perf.SpeculativeDeployment)."""
    lay = p.layout
    try:
        m, hw = catalog.model(model), catalog.hardware(p.hardware)
        dep = perf.deploy(m, hw, perf.make_layout(m, hw, lay.num_chips, lay.tp, lay.pp, lay.weight_precision,
                                                  lay.kv_precision))
        if p.speculative is None:
            return dep
        sp = p.speculative
        draft = perf.deploy(sp.draft_model, p.hardware, weight_precision=dep.layout.weight_precision)
        return perf.SpeculativeDeployment(dep, perf.SpecDecode(draft, sp.draft_tokens, sp.acceptance))
    except TokenfleetError as exc:
        raise ScenarioError(str(exc), where=f"pools.{i}") from None


def build_pools(sc: Scenario, exact: bool) -> list[Pool]:
    isl = osl = 0.0
    reqs = [c for c in sc.traffic]
    for c in reqs:  # typical lengths for the static $/token figure (fallback 1000 / 200)
        isl += c.input_tokens.mean or c.input_tokens.value or 1000 if c.input_tokens else 1000
        osl += c.output_tokens.mean or c.output_tokens.value or 200 if c.output_tokens else 200
    isl, osl = isl / len(reqs), osl / len(reqs)
    out = []
    for i, p in enumerate(sc.pools):
        model = sc.pool_model(p)
        dep = _deployment(sc, i, p, model)
        s = p.scheduler
        sram = dep.hw.is_sram
        cfg = SchedulerConfig(
            max_seqs=s.max_seqs or (64 if sram else 256),
            max_batched_tokens=s.max_batched_tokens or 8192,
            chunked_prefill=s.chunked_prefill,
            prefix_caching=s.prefix_caching,
            block_tokens=s.block_tokens,
            prefix_block_tokens=s.prefix_block_tokens,
            role=p.role,
            exact=exact,
        )
        usd_per_s = dep.num_chips * dep.hw.price_usd / (sc.facility.depreciation_years * SECONDS_PER_YEAR)
        op = perf.steady.offline(dep, int(isl), int(osl))
        jpt = perf.power.joules_per_output_token(dep, op, isl, osl, sc.facility.pue)
        energy_usd_per_tok = jpt / 3.6e9 * sc.facility.usd_per_mwh
        usd_per_mtok = (usd_per_s / max(op.output_tok_s, 1e-9) + energy_usd_per_tok) * 1e6
        out.append(
            Pool(
                i,
                p.name,
                p,
                model,
                dep,
                cfg,
                p.replicas,
                frozenset(p.tiers),
                PREFILL_PROBE_TOKENS / perf.single.prefill_s(dep, PREFILL_PROBE_TOKENS),
                usd_per_s,
                usd_per_mtok,
                jpt,
                kv_bytes_per_token(dep.model, dep.layout.kv_precision),
            )
        )
    return out


__all__ = ["Pool", "build_pools"]
