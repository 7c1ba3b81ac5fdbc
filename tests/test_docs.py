"""The documentation site: the field reference is what the pydantic models give, every page is in the nav,
and the README stays a guide (length, two commands, links into docs/)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _reference_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_field_reference_is_current() -> None:
    ref = _reference_module()
    assert ref.stale() == [], "run: python docs/hooks/reference.py"


def test_field_reference_lists_every_field_with_its_range() -> None:
    from tokenfleet.deal.schema import DealSpec
    from tokenfleet.plan.schema import PlanScenario

    ref = _reference_module()
    scenario, deal = ref.render("scenario"), ref.render("deal")
    for model, page in ((PlanScenario, scenario), (DealSpec, deal)):
        for sub, _ in ref._walk(model):
            for name in sub.model_fields:
                assert f"| `{name}` |" in page, (sub.__name__, name)
    assert "| `pue` | number | `1.2` | [1, 3] |" in scenario  # in_range(1.0, 3.0) with its default
    assert "| `replicas` | integer | `1` | [1, 10,000] |" in scenario


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    return []


def test_every_page_is_in_the_nav_and_no_page_is_a_diary() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # mkdocs tags stay strings
    pages = set(_nav_pages(config["nav"]))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == on_disk
    diary = re.compile(r"before this commit|this commit|the commit before|at this commit|used to be", re.I)
    for page in [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]:
        hits = [line for line in page.read_text(encoding="utf-8").splitlines() if diary.search(line)]
        assert not hits, (page.name, hits[:3])
