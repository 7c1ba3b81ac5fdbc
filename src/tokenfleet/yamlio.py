"""Reading the YAML files users hand to tokenfleet (scenarios, deals, gateway configs, sweeps).

Every failure is a :class:`~tokenfleet.errors.ScenarioError` naming the file: missing, unreadable, not YAML, or
not a mapping at the top level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tokenfleet.errors import ScenarioError


def parse_mapping(text: str, where: str) -> dict[str, Any]:
    """YAML text that must hold a mapping at the top level; ``where`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", where=where) from None
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping (key: value lines) at the top level", where=where)
    return data


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", where=str(p)) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a YAML file", where=str(p)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", where=str(p)) from None
    return parse_mapping(text, str(p))


__all__ = ["parse_mapping", "read_mapping"]
