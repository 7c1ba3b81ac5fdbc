"""Run independent tasks serially in this process or as Ray tasks, with the results in task order.

Both paths call the same function on the same tasks, so they return the same results. Ray: with no address
(and no ``RAY_ADDRESS`` in the environment) it starts a local Ray on this machine (``num_cpus`` workers, no
dashboard) and stops it afterwards; an address (``host:port``, ``ray://host:10001`` or ``auto``) joins a
running cluster, whose nodes must have tokenfleet installed and see the tasks' data files. An address that
does not answer within ``connect_timeout_s`` is an :class:`~tokenfleet.errors.InputError` naming ``where``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlparse

from tokenfleet.errors import InputError

T = TypeVar("T")
R = TypeVar("R")


def ray_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``$RAY_ADDRESS``, else None (start a local Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_address(address: str, timeout_s: float = 5.0, where: str = "--address") -> None:
    """Fail fast, with a clear message, when a Ray address does not accept connections."""
    if address == "auto":
        return
    url = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = url.hostname, url.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if not host or port is None:
        raise InputError(f"Ray address {address!r} must look like host:port, ray://host:port or auto", where=where)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc})", where=where) from None


def run_serial(fn: Callable[[T], R], tasks: Sequence[T], tick: Callable[[int, R], None] | None = None) -> list[R]:
    out = []
    for i, t in enumerate(tasks):
        out.append(fn(t))
        if tick:
            tick(i, out[-1])
    return out


def run_ray(fn: Callable[[T], R], tasks: Sequence[T], tick: Callable[[int, R], None] | None = None, *,
            address: str | None = None, num_cpus: int | None = None, connect_timeout_s: float = 5.0,
            where: str = "--address") -> list[R]:
    """``[fn(t) for t in tasks]`` as Ray tasks; ``tick(index, result)`` as each one finishes."""
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed: `pip install ray` (or tokenfleet[ray]), or run with --no-ray",
                         where="--ray") from None
    address = ray_address(address)
    if address is not None:
        check_address(address, connect_timeout_s, where)
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise InputError(f"cannot connect to Ray at {address}: {exc}", where=where) from None
        started = True
    try:
        remote = ray.remote(fn)
        pending = {remote.remote(t): i for i, t in enumerate(tasks)}
        out: list[Any] = [None] * len(tasks)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                out[i] = ray.get(ref)
                if tick:
                    tick(i, out[i])
    finally:
        if started:
            ray.shutdown()
    return out


def fan_out(fn: Callable[[T], R], tasks: Sequence[T], tick: Callable[[int, R], None] | None = None, *,
            use_ray: bool = True, address: str | None = None, num_cpus: int | None = None,
            where: str = "--address") -> list[R]:
    """:func:`run_ray` or :func:`run_serial`: the same results in task order either way."""
    if not use_ray:
        return run_serial(fn, tasks, tick)
    return run_ray(fn, tasks, tick, address=address, num_cpus=num_cpus, where=where)


__all__ = ["check_address", "fan_out", "ray_address", "run_ray", "run_serial"]
