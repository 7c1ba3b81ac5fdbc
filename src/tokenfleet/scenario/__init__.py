"""The scenario schema shared by ``simulate`` and ``plan``: pydantic models, one small module per part.

* :mod:`~tokenfleet.scenario.traffic` — :class:`TrafficClass` (name, model, :class:`ArrivalSpec` from a
  trace or a synthetic process, :class:`LengthSpec` input / output lengths, :class:`SloSpec`, tier).
* :mod:`~tokenfleet.scenario.fleet` — :class:`PoolSpec` (hardware, model, :class:`LayoutSpec`, replicas,
  :class:`SchedulerSpec`, tiers, role), :class:`RoutingSpec`, :class:`DisaggregationSpec`,
  :class:`FacilitySpec` (pue, usd_per_mwh, depreciation_years), :class:`SimSpec` (seed, duration / request
  limit, exact mode).
* :mod:`~tokenfleet.scenario.model` — :class:`Scenario`, extensible by subclassing plus
  :func:`register_section` (see that module).
* :mod:`~tokenfleet.scenario.slo` — :class:`Slo`, the typed SLO value object every layer passes on
  (``SloSpec.to_slo()``), with the two definitions of "met" (p99 per class, per request).
* :func:`load_scenario` — YAML file -> scenario; bad input raises :class:`~tokenfleet.errors.ScenarioError`
  naming the file and field path. Trace paths are relative to the scenario file, or ``shared:traces/NAME``
  (the packaged trace NAME, :mod:`tokenfleet.workload.packaged`; ``$TOKENFLEET_SHARED/data/traces/NAME`` when
  that variable is set).
"""

from tokenfleet.scenario.fleet import (
    DisaggregationSpec,
    FacilitySpec,
    LayoutSpec,
    PoolSpec,
    RoutingSpec,
    SchedulerSpec,
    SimSpec,
    SpeculativeSpec,
)
from tokenfleet.scenario.load import load_scenario, parse_scenario, resolve_data_path
from tokenfleet.scenario.model import Scenario, register_section
from tokenfleet.scenario.slo import Slo
from tokenfleet.scenario.traffic import ArrivalSpec, LengthSpec, SloSpec, TrafficClass

__all__ = [
    "ArrivalSpec",
    "DisaggregationSpec",
    "FacilitySpec",
    "LayoutSpec",
    "LengthSpec",
    "PoolSpec",
    "RoutingSpec",
    "Scenario",
    "SchedulerSpec",
    "SimSpec",
    "Slo",
    "SloSpec",
    "SpeculativeSpec",
    "TrafficClass",
    "load_scenario",
    "parse_scenario",
    "register_section",
    "resolve_data_path",
]
