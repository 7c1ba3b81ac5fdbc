"""Prometheus metrics of the gateway, in a registry of its own (several gateways can share a process).

Label children are cached per (pool, backend, class) so the hot path pays one dict lookup and one
``inc`` / ``observe`` per metric.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

_LAT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("tokenfleet_requests", "Requests answered, by outcome",
                                ["pool", "backend", "slo_class", "status"], registry=r)
        self.rejected = Counter("tokenfleet_rejected", "Requests refused before routing, by reason",
                                ["reason"], registry=r)
        self.retries = Counter("tokenfleet_retries", "Attempts retried on another backend",
                               ["backend", "reason"], registry=r)
        self.ttft = Histogram("tokenfleet_ttft_seconds", "Time to first token seen by the gateway",
                              ["pool", "slo_class"], buckets=_LAT_BUCKETS_S, registry=r)
        self.duration = Histogram("tokenfleet_request_duration_seconds", "Request duration",
                                  ["pool", "slo_class"], buckets=_LAT_BUCKETS_S, registry=r)
        self.tokens = Counter("tokenfleet_tokens", "Tokens metered", ["pool", "kind"], registry=r)
        self.joules = Counter("tokenfleet_energy_joules", "Estimated energy metered", ["pool"], registry=r)
        self.usd = Counter("tokenfleet_cost_usd", "Dollars metered", ["pool"], registry=r)
        self.in_flight = Gauge("tokenfleet_backend_in_flight", "Requests in flight per backend",
                               ["backend"], registry=r)
        self.breaker_open = Gauge("tokenfleet_backend_circuit_open", "1 while a backend's circuit is open",
                                  ["backend"], registry=r)
        self.ejections = Counter("tokenfleet_backend_ejections", "Backends taken out of routing (outliers)",
                                 ["backend", "reason"], registry=r)
        self.rows_lost = Counter("tokenfleet_ledger_rows_lost",
                                 "Rows neither the journal nor memory could take", registry=r)
        self.unmetered_refused = Counter("tokenfleet_unmetered_refused",
                                         "Requests refused (503) because no ledger row could be written",
                                         registry=r)
        self.ledger_backlog = Gauge("tokenfleet_ledger_backlog_rows",
                                    "Rows recorded by this process and not yet in the database", registry=r)
        self.journal_backlog = Gauge("tokenfleet_ledger_journal_backlog_bytes",
                                     "Journal bytes not yet replayed into the database", registry=r)
        self.ledger_write_errors = Gauge("tokenfleet_ledger_write_errors",
                                         "Failed database batch writes so far (each is retried)", registry=r)
        self.journal_errors = Gauge("tokenfleet_ledger_journal_write_errors",
                                    "Failed journal appends so far (the row went to memory)", registry=r)
        self.ledger_ok = Gauge("tokenfleet_ledger_writable", "1 while new rows have a durable place to go",
                               registry=r)
        self.probes = Counter("tokenfleet_probes", "Health probes of backends whose observed latency blocked a "
                              "class, by outcome", ["backend", "outcome"], registry=r)
        self.stale_retries = Gauge("tokenfleet_upstream_stale_retries",
                                   "Requests resent on a fresh connection after a kept-alive one was closed "
                                   "(not backend failures)", ["backend"], registry=r)
        self.stale_dropped = Gauge("tokenfleet_upstream_stale_dropped",
                                   "Kept-alive upstream connections found closed or idle too long, dropped "
                                   "before use", ["backend"], registry=r)
        self.auth_derivations = Gauge("tokenfleet_auth_key_derivations",
                                      "scrypt key derivations so far (unknown keys with a known prefix)", registry=r)
        self.auth_pending = Gauge("tokenfleet_auth_pending", "Key derivations queued or running", registry=r)
        self.connections = Gauge("tokenfleet_connections", "Client connections by state", ["state"], registry=r)
        self.connections_closed = Gauge("tokenfleet_connections_closed",
                                        "Client connections closed by the server's guard, by reason", ["reason"],
                                        registry=r)
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["GatewayMetrics"]
