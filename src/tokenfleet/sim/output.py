"""Per-request output streamed to disk (CSV or Parquet, chosen by suffix) and a Chrome trace of replica
activity for small runs (open in chrome://tracing or https://ui.perfetto.dev)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.sim.metrics import COLUMNS
from tokenfleet.sim.replica import Replica


class RequestWriter:
    """A :class:`~tokenfleet.sim.engine.Sink` writing one row per completed request, chunk by chunk."""

    def __init__(self, path: str | Path, class_names: list[str], pool_names: list[str]) -> None:
        self.path = Path(path)
        self.class_names = np.array(class_names, dtype=object)
        self.pool_names = np.array(pool_names, dtype=object)
        self.kind = "parquet" if self.path.suffix in (".parquet", ".pq") else "csv"
        if self.kind == "csv" and self.path.suffix not in (".csv", ".gz", ""):
            raise InputError("per-request output must end in .csv or .parquet", where=str(self.path))
        self._pq: Any = None
        self._fh: Any = None
        self._csv: Any = None

    def _table(self, cols: dict[str, np.ndarray], derived: dict[str, np.ndarray], names: bool = True,
               ) -> dict[str, np.ndarray]:
        out = {
            "request_id": cols["request_id"],
            "class": self.class_names[cols["class_idx"]] if names else cols["class_idx"],
            "pool": self.pool_names[cols["pool_idx"]] if names else cols["pool_idx"],
            "replica": cols["replica"],
        }
        for k in COLUMNS[COLUMNS.index("arrival_s"):]:  # the collector's timing and token columns, in order
            out[k] = cols[k]
        for k in ("ttft_s", "tpot_s", "e2e_s", "queue_s", "slo_ok"):
            out[k] = derived[k]
        return out

    def write(self, cols: dict[str, np.ndarray], derived: dict[str, np.ndarray]) -> None:
        t = self._table(cols, derived, names=self.kind != "parquet")
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            names = {"class": (self.class_names, cols["class_idx"]), "pool": (self.pool_names, cols["pool_idx"])}
            # name columns by index into the few names (no Python string per row); numbers as they are
            tab = pa.table({k: pa.array(names[k][0].tolist()).take(pa.array(names[k][1])) if k in names else pa.array(v)
                            for k, v in t.items()})
            if self._pq is None:
                self._pq = pq.ParquetWriter(str(self.path), tab.schema)
            self._pq.write_table(tab)
            return
        if self._fh is None:
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(list(t))
        self._csv.writerows(zip(*(v.tolist() for v in t.values()), strict=True))

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        if self._fh is not None:
            self._fh.close()


def chrome_trace(replicas: list[Replica], names: list[str], path: str | Path, max_events: int = 200_000) -> int:
    """Write replica activity (one row per replica, one slice per iteration run) as a Chrome trace."""
    events: list[dict[str, Any]] = []
    for i, (rep, name) in enumerate(zip(replicas, names, strict=True)):
        events.append({"ph": "M", "name": "thread_name", "pid": 0, "tid": i, "args": {"name": name}})
        for t0, dt, m, n, ptoks in rep.trace or []:
            label = f"prefill {ptoks} + decode {n}" if ptoks else f"decode x{m} ({n} seqs)"
            events.append(
                {
                    "ph": "X",
                    "name": label,
                    "pid": 0,
                    "tid": i,
                    "ts": t0 * 1e6,
                    "dur": dt * 1e6,
                    "args": {"iterations": m, "decode_seqs": n, "prefill_tokens": ptoks},
                }
            )
            if len(events) >= max_events:
                break
    Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}), encoding="utf-8")
    return len(events)


__all__ = ["RequestWriter", "chrome_trace"]
