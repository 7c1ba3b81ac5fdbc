"""The planning dashboard: ``tokenfleet ui`` serves a local page where a capacity planner edits a scenario,
runs plan / simulate / deal in the background and compares runs.

* :mod:`~tokenfleet.web.app` — Starlette app: the static page and a JSON API (see its docstring).
* :mod:`~tokenfleet.web.validation` — field-level errors from the CLI's pydantic models and checks.
* :mod:`~tokenfleet.web.jobs` — :class:`Run`, the in-memory (optionally on-disk) :class:`RunStore`, and the
  thread-pool :class:`JobRunner` with progress callbacks.
* :mod:`~tokenfleet.web.work` — what a run does (planner, simulator, deal valuation) and its output: the
  same report page as the CLI's ``--out`` (:mod:`tokenfleet.viz`), as data the page draws.
* :mod:`~tokenfleet.web.inputs` — what changed between two runs' inputs (run labels, Compare).
* :mod:`~tokenfleet.web.downloads` — a run's files and its exports (tables.xlsx, CSVs, report.zip).
* ``static/`` — hand-written HTML, CSS and JS; the results use the reports' stylesheet and drawing script
  (``/viz/report.css``, ``/viz/report.js``); plotly.js is served from the installed plotly package, so the
  page needs no network beyond the local server.
"""

from tokenfleet.web.app import create_app

__all__ = ["create_app"]
