"""Fan a sweep's points out — serially in this process, or as Ray tasks on a local Ray or a cluster.

Both paths call the same :func:`~tokenfleet.sweep.task.evaluate` on the same :class:`PointTask` s and sort
the rows by point index, so they give identical tables (apart from ``wall_s``). Ray: ``address=None``
starts a local Ray on this machine (``num_cpus`` workers, no dashboard) and stops it afterwards; an address
(``host:port``, ``ray://host:10001`` or ``auto``) joins an existing cluster, whose nodes must have
tokenfleet installed and see the scenario's data files. An address that does not answer within
``connect_timeout_s`` is an :class:`~tokenfleet.errors.InputError`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tokenfleet.errors import InputError
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
    rows = []
    for t in tasks:
        row = evaluate(t)
        rows.append(row)
        if tick:
            tick(row)
    return sorted(rows, key=lambda r: r["point"])


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with a clear message, when a Ray address does not accept connections."""
    if address == "auto":
        return
    url = urlparse(address if "://" in address else f"tcp://{address}")
    host, port = url.hostname, url.port
    if not host or port is None:
        raise InputError(f"Ray address {address!r} must look like host:port, ray://host:port or auto",
                         where="--address")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc})",
                         where="--address") from None


def run_ray(tasks: list[PointTask], tick: Tick | None = None, *, address: str | None = None,
            num_cpus: int | None = None, connect_timeout_s: float = 5.0) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed: `pip install ray`, or run with --no-ray", where="--ray") from None
    if address is not None:
        check_address(address, connect_timeout_s)
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise InputError(f"cannot connect to Ray at {address}: {exc}", where="--address") from None
        started = True
    try:
        remote = ray.remote(evaluate)
        pending = [remote.remote(t) for t in tasks]
        rows: list[dict[str, Any]] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                row = ray.get(ref)
                rows.append(row)
                if tick:
                    tick(row)
    finally:
        if started:
            ray.shutdown()
    return sorted(rows, key=lambda r: r["point"])


__all__ = ["check_address", "make_tasks", "run_ray", "run_serial"]
