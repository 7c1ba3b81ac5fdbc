"""Scenarios and deals the dashboard offers: two packaged starters (``data/plan.yaml``, ``data/deal.yaml``)
and, when tokenfleet runs from a checkout, the repository's ``examples/*.yaml`` and ``examples/deals/*.yaml``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _packaged(name: str) -> str:
    return resources.files("tokenfleet.web").joinpath("data", name).read_text(encoding="utf-8")


def default_scenario() -> str:
    return _packaged("plan.yaml")


def default_deal() -> str:
    return _packaged("deal.yaml")


def _repo_examples() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            ex = parent / "examples"
            return ex if ex.is_dir() else None
    return None


def list_examples() -> list[dict[str, str]]:
    """``[{name, kind}]``: kind is ``scenario`` or ``deal``; gateway configs are left out."""
    out = [{"name": "starter: plan.yaml", "kind": "scenario"}, {"name": "starter: deal.yaml", "kind": "deal"},
           {"name": "built-in: tokenfleet plan default", "kind": "scenario"}]
    ex = _repo_examples()
    if ex is not None:
        out += [{"name": f"examples/{p.name}", "kind": "scenario"} for p in sorted(ex.glob("*.yaml"))
                if not p.name.startswith("gateway")]
        out += [{"name": f"examples/deals/{p.name}", "kind": "deal"} for p in sorted(ex.glob("deals/*.yaml"))]
    return out


def example_text(name: str) -> str | None:
    if name == "starter: plan.yaml":
        return default_scenario()
    if name == "starter: deal.yaml":
        return default_deal()
    if name == "built-in: tokenfleet plan default":
        from tokenfleet.plan.default import default_text

        return default_text()
    if name not in {e["name"] for e in list_examples()}:
        return None
    ex = _repo_examples()
    assert ex is not None
    return (ex.parent / name).read_text(encoding="utf-8")


__all__ = ["default_deal", "default_scenario", "example_text", "list_examples"]
