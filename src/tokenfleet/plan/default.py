"""The built-in default plan scenario, packaged as YAML (``tokenfleet plan`` with no argument)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from tokenfleet.plan.schema import PlanScenario, parse_plan_scenario

DEFAULT_NAME = "default.yaml"


def default_text() -> str:
    return resources.files("tokenfleet.plan").joinpath("data", DEFAULT_NAME).read_text(encoding="utf-8")


def default_scenario() -> tuple[PlanScenario, Path]:
    """The packaged default scenario and the folder its relative paths resolve against."""
    sc = parse_plan_scenario(yaml.safe_load(default_text()), f"(built-in) {DEFAULT_NAME}")
    return sc, Path.cwd()


__all__ = ["default_scenario", "default_text"]
