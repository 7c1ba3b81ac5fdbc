"""Runs and the background workers that execute them.

A :class:`Run` is one plan / simulate / deal job: its inputs (scenario YAML, deal YAML), status
(``queued`` -> ``running`` -> ``done`` | ``failed``), progress in [0, 1] with a stage label, and, when done,
its output (headline numbers, tables, plotly figures, downloadable files). :class:`RunStore` keeps runs in
memory and, given a folder, writes each finished run to ``<folder>/<id>.json`` and reads them back at
start. :class:`JobRunner` executes runs on a thread pool; the work functions report progress through a
callback and never touch HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tokenfleet.errors import TokenfleetError

Progress = Callable[[str, float | None], None]
Work = Callable[["Run", Progress], dict[str, Any]]


@dataclass
class Run:
    id: str
    kind: str  # plan | simulate | deal
    label: str
    scenario_yaml: str
    deal_yaml: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_s: float = field(default_factory=time.time)
    status: str = "queued"
    stage: str = "queued"
    progress: float | None = 0.0  # None: running, amount unknown
    error: str | None = None
    wall_s: float | None = None
    output: dict[str, Any] | None = None  # summary, tables, figures, files

    def brief(self) -> dict[str, Any]:
        """What the runs list shows (no figures)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("output", "scenario_yaml", "deal_yaml")}
        out["summary"] = (self.output or {}).get("summary", {})
        files = sorted((self.output or {}).get("files", {}))
        if (self.output or {}).get("export"):
            files += ["tables.xlsx", "tables.zip", "report.zip"]
        out["files"] = files
        out.pop("options", None)
        out["changed"] = self.options.get("changed", [])
        out["after"] = self.options.get("after")
        out["fast"] = bool(self.options.get("fast"))
        return out

    def full(self) -> dict[str, Any]:
        out = self.brief()
        if self.output is not None:
            out.update({k: v for k, v in self.output.items() if k not in ("files", "export")})
        return out


class RunStore:
    """Runs by id, newest last; optionally persisted as JSON files under ``folder``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._next = 1
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            for p in sorted(folder.glob("r*.json"), key=lambda q: int(q.stem[1:]) if q.stem[1:].isdigit() else 0):
                try:
                    run = Run(**json.loads(p.read_text(encoding="utf-8")))
                except (ValueError, TypeError):
                    continue
                self._runs[run.id] = run
                if run.id[1:].isdigit():
                    self._next = max(self._next, int(run.id[1:]) + 1)

    def new(self, kind: str, label: str, scenario_yaml: str, deal_yaml: str | None, options: dict[str, Any]) -> Run:
        with self._lock:
            run = Run(f"r{self._next}", kind, label, scenario_yaml, deal_yaml, dict(options))
            self._next += 1
            self._runs[run.id] = run
            return run

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def all(self) -> list[Run]:
        return list(self._runs.values())

    def delete(self, run_id: str) -> bool:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None and self.folder is not None:
            (self.folder / f"{run_id}.json").unlink(missing_ok=True)
        return run is not None

    def save(self, run: Run, status: str) -> None:
        if self.folder is not None and run.id in self._runs:
            text = json.dumps(asdict(run) | {"status": status}, default=str)
            (self.folder / f"{run.id}.json").write_text(text, encoding="utf-8")


class JobRunner:
    """Executes runs on ``workers`` threads; a user error fails the run with its message, a bug with the
    last line of its traceback (and the full traceback in ``output.traceback``)."""

    def __init__(self, store: RunStore, workers: int = 2) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tokenfleet-run")

    def submit(self, run: Run, work: Work) -> None:
        self.pool.submit(self._execute, run, work)

    def _execute(self, run: Run, work: Work) -> None:
        def progress(stage: str, frac: float | None) -> None:
            run.stage = stage
            run.progress = None if frac is None else min(max(frac, 0.0), 1.0)

        run.status, run.stage = "running", "starting"
        t0 = time.perf_counter()
        status = "done"
        try:
            run.output = work(run, progress)
            run.stage, run.progress = "done", 1.0
        except TokenfleetError as exc:
            status, run.error = "failed", str(exc)
        except Exception as exc:  # a bug: keep the traceback for the page
            status, run.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            run.output = {"traceback": traceback.format_exc()}
        run.wall_s = time.perf_counter() - t0
        self.store.save(run, status)  # on disk before anyone polling sees it finished
        run.status = status

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["JobRunner", "Run", "RunStore"]
