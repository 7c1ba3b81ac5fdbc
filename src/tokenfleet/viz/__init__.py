"""The visual language every report and the dashboard share (imports nothing else from tokenfleet, so any
layer's report may use it).

* :mod:`~tokenfleet.viz.fmt` — the number formatter: $2.62M, 12.6 MW, 98.2%, 120 ms; no raw floats;
* :mod:`~tokenfleet.viz.theme` — the plotly template and chart rules (axis titles with units, log axes
  said so, SLO lines, the current plan marked, labelled single points, steps for fleet switches);
* :mod:`~tokenfleet.viz.table` — typed tables (text left, numbers right) for HTML, the dashboard and exports;
* :mod:`~tokenfleet.viz.export` — ``tables.xlsx`` (one sheet per table) and ``tables/<id>.csv``;
* :mod:`~tokenfleet.viz.page` — the report page (plotly.js loaded once from the file beside it) and
  ``assets/report.css`` / ``assets/report.js``, which the dashboard serves too.
"""
