"""Fan a sweep's points out — serially in this process, or as Ray tasks on a local Ray or a cluster.

Both paths call the same :func:`~tokenfleet.sweep.task.evaluate` on the same :class:`PointTask` s and sort
the rows by point index, so they give identical tables (apart from ``wall_s``). Ray (:mod:`tokenfleet.fanout`):
``address=None`` (and no ``RAY_ADDRESS``) starts a local Ray on this machine (``num_cpus`` workers, no
dashboard) and stops it afterwards; an address (``host:port``, ``ray://host:10001`` or ``auto``) joins an
existing cluster, whose nodes must have tokenfleet installed and see the scenario's data files. An address
that does not answer within ``connect_timeout_s`` is an :class:`~tokenfleet.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenfleet import fanout
from tokenfleet.fanout import check_address
from tokenfleet.sweep.spec import Sweep
from tokenfleet.sweep.task import PointTask, evaluate

Tick = Callable[[dict[str, Any]], None]


def make_tasks(sweep: Sweep, steps: tuple[str, ...], *, max_requests: int | None = None,
               duration_s: float | None = None, deal: dict[str, Any] | None = None, deal_dir: Path | None = None,
               deal_paths: int | None = None) -> list[PointTask]:
    return [
        PointTask(p.index, p.assignments, sweep.scenario(p), str(sweep.base_dir), sweep.where, sweep.seed(p), steps,
                  max_requests, duration_s, deal, str(deal_dir) if deal_dir else None, deal_paths)
        for p in sweep.points
    ]


def run_serial(tasks: list[PointTask], tick: Tick | None = None) -> list[dict[str, Any]]:
    rows = fanout.run_serial(evaluate, tasks, None if tick is None else lambda _, row: tick(row))
    return sorted(rows, key=lambda r: r["point"])


def run_ray(tasks: list[PointTask], tick: Tick | None = None, *, address: str | None = None,
            num_cpus: int | None = None, connect_timeout_s: float = 5.0) -> list[dict[str, Any]]:
    rows = fanout.run_ray(evaluate, tasks, None if tick is None else lambda _, row: tick(row), address=address,
                          num_cpus=num_cpus, connect_timeout_s=connect_timeout_s)
    return sorted(rows, key=lambda r: r["point"])


__all__ = ["check_address", "make_tasks", "run_ray", "run_serial"]
