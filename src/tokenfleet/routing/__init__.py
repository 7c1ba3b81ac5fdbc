"""Routing policies shared by the simulator and the live gateway: filters -> weighted scorers -> picker.

Public names (stable; the gateway imports them):

* :class:`EndpointSnapshot` — frozen view of one endpoint (id, pool, hardware, model, in-flight / queued
  requests, running sequences, KV use fraction, predicted TTFT / TPOT seconds, prefill tokens/s,
  $ per million tokens, power W, joules per token, healthy, observed moving-average TTFT / TPOT, tier tags).
* :class:`RequestInfo` — class name, model, prompt tokens, max output tokens, TTFT / TPOT SLO ms, tier.
* :class:`EndpointTable` — the same columns as numpy arrays; the simulator updates one in place.
* :class:`Filter`, :class:`Scorer`, :class:`Picker` — plugin protocols; :class:`Profile` runs them and
  :class:`Decision` is what :meth:`Profile.pick` returns.
* :func:`build_profile` — a profile from ``"name"`` or ``{"policy": name, "weights": {scorer: w}}``;
  :data:`POLICIES` and :func:`policy_names` list what exists.

Use::

    profile = build_profile({"policy": "slo-tier", "weights": {"ttft": 2}})
    decision = profile.pick(RequestInfo("chat", "llama-3.3-70b", 1200, 300, ttft_slo_ms=500), snapshots)
    decision.endpoint_id

Policies: ``round-robin``, ``random`` (weighted by free KV), ``least-outstanding``, ``jsq``
(join-shortest-queue), ``least-ttft`` (predicted from the performance model), ``slo-tier`` (a class tagged
with a tier goes to endpoints tagged with it and spills over when they cannot meet its SLO),
``slo-tier-strict``, ``cost-aware``, ``power-aware``, ``prefill-load`` (least predicted TTFT from the prefill
work waiting at each endpoint beside its running batch), ``prefix-aware`` (most of the prompt already in
the endpoint's prefix cache, within a load-balance bound), ``prefix-affinity`` (prefix cache only, load
ignored). Which blocks an endpoint caches comes from ``table.prefix_index`` (:class:`PrefixIndex`: exact in
the simulator, :class:`ApproxPrefixIndex` in the gateway). A policy never reads a clock and never does I/O;
pickers keep only a counter or a seeded generator, so a given sequence of decisions is reproducible.

:class:`HealthRule` and :class:`ObservedLatency` (``tokenfleet.routing.health``) are the rule by which observed
latency corrects the model's prediction and fades back to it, and by which old evidence never refuses a
request: the gateway's router and the simulator's router model apply the same one.

``tokenfleet.routing.fast.LeastOutstandingIndex`` reproduces a ``least-outstanding`` profile's decisions
incrementally (the simulator's fast path over many endpoints; it answers -1 when the profile must decide).
"""

from tokenfleet.routing.health import HealthRule, ObservedLatency
from tokenfleet.routing.plugins import Decision, Filter, Picker, Profile, Scorer
from tokenfleet.routing.prefix_index import ApproxPrefixIndex, PrefixIndex
from tokenfleet.routing.registry import POLICIES, PolicyBuilder, build_profile, policy_names
from tokenfleet.routing.table import EndpointTable
from tokenfleet.routing.types import EndpointSnapshot, RequestInfo

__all__ = [
    "POLICIES",
    "ApproxPrefixIndex",
    "Decision",
    "EndpointSnapshot",
    "EndpointTable",
    "Filter",
    "HealthRule",
    "ObservedLatency",
    "Picker",
    "PolicyBuilder",
    "PrefixIndex",
    "Profile",
    "RequestInfo",
    "Scorer",
    "build_profile",
    "policy_names",
]
