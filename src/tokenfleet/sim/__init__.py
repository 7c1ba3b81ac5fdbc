"""Request-level discrete-event simulation of a heterogeneous inference fleet.

* :class:`Simulation` (``engine``) — scenario -> pools of replicas -> router -> metrics; ``run()`` returns a
  :class:`SimResult`. Arrivals stream in column chunks (``arrivals``); the event loop (``loop``) routes them,
  drives the replicas and hands completed requests in column chunks to a streaming
  :class:`~tokenfleet.sim.metrics.Collector` and to optional sinks (CSV / Parquet), so memory stays flat.
  ``least-outstanding`` and ``round-robin`` decisions come from incremental indexes
  (:mod:`tokenfleet.routing.fast`, the same rows as the profile, O(1) each); other policies score the table.
* The **core** (``seq``, ``kv``, ``itertime``, ``steptime``, ``replica``, ``loop`` and ``routing.fast``) runs
  as pure Python or as its compiled twin (Cython, built from the same sources by ``pip install``), with the
  same results request for request: :mod:`tokenfleet.sim.core` picks one (``Simulation(core=...)``,
  ``tokenfleet simulate --core``). Speed: ``benchmarks/simulator.py``; the choice: ``docs/simulate.md``.
* :class:`Replica` (``replica``) — one engine, vLLM-style continuous batching, **pure and driven by an
  injected clock** so the gateway's emulator can run it in wall-clock time::

      rep = Replica(deployment, SchedulerConfig(max_seqs=256, max_batched_tokens=8192))
      changed = rep.admit(Seq(request), now)   # True: next_event_time() moved
      t = rep.next_event_time()                # inf when idle
      first, done = rep.advance(t)             # sequences with their first token / finished at t
      seq.first_token_s, seq.gen, seq.preemptions

  Waiting / prefilling / decoding sets, token budget per step, chunked prefill, paged KV blocks
  (:class:`~tokenfleet.sim.kv.KvCache`) with recompute preemption, prefix caching from trace hash ids with
  LRU eviction. Runs of decode iterations between batch changes are advanced in closed form
  (:class:`~tokenfleet.sim.itertime.IterationTimes`; a run that is one affine piece, the common case,
  is kept as three numbers with no object); ``exact=True`` steps every iteration. What routing
  reads (``comp_step_s``, ``comp_kv_use``, bumped ``comp_version``) is refreshed when the batch composition
  changes, so both modes route identically and give the same completion times.
* Defaults by device family: HBM replicas 256 sequences, 8192 batched tokens per step; SRAM-dataflow
  replicas (CS-3, LPU) 64 sequences (pipeline concurrency), KV capacity from the SRAM left beside the
  weights (``Deployment.kv_capacity_tokens``). TTFT and E2E include the model's per-request overhead
  (``params.request_overhead_s``).
* Energy: each replica integrates ``Deployment.power_w`` (idle floor + dynamic part x step utilisation)
  over its busy and idle time; facility power = IT x PUE. Cost: hardware price amortised over
  ``facility.depreciation_years`` plus energy at ``facility.usd_per_mwh``.
"""

from tokenfleet.sim.config import SchedulerConfig
from tokenfleet.sim.engine import SimResult, Simulation, Sink
from tokenfleet.sim.kv import KvCache
from tokenfleet.sim.replica import Replica, ReplicaStats
from tokenfleet.sim.seq import Seq

__all__ = ["KvCache", "Replica", "ReplicaStats", "SchedulerConfig", "Seq", "SimResult", "Simulation", "Sink"]
