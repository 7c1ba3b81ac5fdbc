"""Field-level validation for the dashboard's forms, with the same pydantic models and checks as the CLI.

:func:`scenario_errors` / :func:`deal_errors` return every problem as ``{"path": "facility.pue",
"message": "..."}`` so the page can put each message next to its field; ``path`` is ``""`` for problems of
the whole document. The model is the planner's (:class:`~tokenfleet.plan.schema.PlanScenario`) when the
scenario has a ``plan:`` section, else the simulator's :class:`~tokenfleet.scenario.Scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tokenfleet.errors import ScenarioError, TokenfleetError

WHERE = "scenario"


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def _did_you_mean(path: str, model: type[BaseModel] | None) -> str:
    """``; did you mean 'power_budget_mw'?`` for a misspelt field, from the model's own field paths."""
    if model is None:
        return ""
    import difflib
    import re

    from tokenfleet.sweep.grid import leaf_keys

    generic = re.sub(r"\.\d+(?=\.|$)", ".<i>", path)
    keys = set(leaf_keys(model))
    keys |= {k.rsplit(".", n)[0] for k in list(keys) for n in range(1, k.count(".") + 1)}
    parent = generic.rsplit(".", 1)[0] if "." in generic else ""
    siblings = [k for k in keys if (k.rsplit(".", 1)[0] if "." in k else "") == parent]
    leaf = generic.rsplit(".", 1)[-1]
    hint = difflib.get_close_matches(leaf, [k.rsplit(".", 1)[-1] for k in siblings], n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""


def _from_pydantic(exc: ValidationError, model: type[BaseModel] | None = None) -> list[FieldError]:
    out = []
    for e in exc.errors():
        path = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field" + _did_you_mean(path, model)
        out.append(FieldError(path, msg))
    return out


def _from_scenario_error(exc: TokenfleetError) -> FieldError:
    where = getattr(exc, "where", None) or ""
    _, _, path = where.partition(": ")
    text = str(exc)
    msg = text[len(where) + 2:] if where and text.startswith(where + ": ") else text
    return FieldError(path, msg)


def parse_yaml(text: str) -> tuple[dict[str, Any] | None, list[FieldError]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [FieldError("", f"not valid YAML: {exc}")]
    if not isinstance(data, dict):
        return None, [FieldError("", "expected a mapping (key: value lines) at the top level")]
    return data, []


def scenario_model(data: dict[str, Any]) -> type[BaseModel]:
    from tokenfleet.sweep.spec import scenario_model as pick

    return pick(data)


def scenario_errors(data: dict[str, Any]) -> list[FieldError]:
    """Every schema error of the scenario; when the schema passes, the catalog and planner checks."""
    model = scenario_model(data)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _from_pydantic(exc, model)
    from tokenfleet.sweep.spec import validate

    try:
        validate(data, WHERE)
    except (ScenarioError, TokenfleetError) as exc:
        return [_from_scenario_error(exc)]
    return []


def deal_errors(data: dict[str, Any]) -> list[FieldError]:
    from tokenfleet.deal.load import parse_deal
    from tokenfleet.deal.schema import DealSpec

    try:
        DealSpec.model_validate(data)
    except ValidationError as exc:
        return _from_pydantic(exc, DealSpec)
    link = (data.get("contract") or {}).get("from_plan")
    if isinstance(link, dict):
        return []  # the plan.json comes from a plan run when the deal is valued
    try:
        parse_deal(data, "deal.yaml")
    except TokenfleetError as exc:
        return [_from_scenario_error(exc)]
    return []


__all__ = ["FieldError", "deal_errors", "parse_yaml", "scenario_errors"]
