"""Reports that read more than one layer (the edge beside the CLI and the dashboard).

* :mod:`~tokenfleet.report.series` — per-pool time series of a simulation from the requests it streams;
* :mod:`~tokenfleet.report.simulate` — ``tokenfleet simulate --out DIR``.

Each layer's own report (plan, deal, validate, sweep) lives beside its layer and shares the visual language
of :mod:`tokenfleet.viz`.
"""
