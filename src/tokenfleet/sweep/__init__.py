"""Scenario sweeps: a grid of ``KEY=VALUES`` over a scenario, every point planned (and optionally simulated and
its deal valued), serially or fanned out on Ray, into a Parquet / CSV table and an HTML report.

    sweep = build_sweep("examples/plan.yaml", ["plan.power_budget_mw=500:2000:250", "facility.usd_per_mwh=40,80"])
    tasks = make_tasks(sweep, ("plan",))              # one picklable PointTask per point, seeded per point
    rows  = run_ray(tasks) or run_serial(tasks)       # same rows, sorted by point index
    write(rows, out_dir); write_report(rows, keys, out_dir / "report.html", title)

* :mod:`~tokenfleet.sweep.grid` — ``KEY=VALUES`` parsing, dotted keys checked against the pydantic schema.
* :mod:`~tokenfleet.sweep.spec` — the checked :class:`Sweep`: per-point scenarios, seeds, ``share.<tier>``.
* :mod:`~tokenfleet.sweep.task` — :func:`evaluate`, one point's plan / simulate / deal as a flat row.
* :mod:`~tokenfleet.sweep.planlink` — the planner's result as JSON (also used by the dashboard).
* :mod:`~tokenfleet.sweep.runner` — serial and Ray fan-out; :mod:`~tokenfleet.sweep.table`,
  :mod:`~tokenfleet.sweep.report` — outputs.
"""

from tokenfleet.sweep.grid import Axis, Point, expand, parse_axis, set_key
from tokenfleet.sweep.runner import make_tasks, run_ray, run_serial
from tokenfleet.sweep.spec import Sweep, build_sweep, make_sweep
from tokenfleet.sweep.task import PointTask, evaluate

__all__ = [
    "Axis",
    "Point",
    "PointTask",
    "Sweep",
    "build_sweep",
    "evaluate",
    "expand",
    "make_sweep",
    "make_tasks",
    "parse_axis",
    "run_ray",
    "run_serial",
    "set_key",
]
