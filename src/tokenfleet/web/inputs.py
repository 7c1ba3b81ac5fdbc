"""What changed between two runs' inputs: the dotted paths whose values differ (list items named by their
``name`` / ``hardware`` when they have one), and a run label that says it."""

from __future__ import annotations

from typing import Any

MAX_IN_LABEL = 2


def _key(item: Any, i: int) -> str:
    if isinstance(item, dict):
        for k in ("name", "hardware"):
            if isinstance(item.get(k), str):
                return item[k]
    return str(i)


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> scalar value (``plan.candidates.cs3.price_usd``)."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
        for i, v in enumerate(doc):
            out.update(flatten(v, f"{prefix}{_key(v, i)}."))
    else:
        out[prefix.rstrip(".")] = doc
    return out


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """``[{path, before, after}]`` for every path whose value differs (``None``: absent on that side)."""
    a, b = flatten(before), flatten(after)
    return [{"path": k, "before": a.get(k), "after": b.get(k)} for k in sorted(set(a) | set(b), key=lambda k: (
        k not in a or k not in b, k)) if a.get(k) != b.get(k) and k not in ("description",)]


def _short(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, float):
        return f"{v:,.6g}"
    text = str(v)
    return text if len(text) <= 24 else text[:21] + "..."


def describe(c: dict[str, Any]) -> str:
    path = c["path"].removeprefix("plan.").removeprefix("contract.")
    return f"{path} {_short(c['before'])} → {_short(c['after'])}"


def run_label(doc: dict[str, Any], changed: list[dict[str, Any]], kind: str) -> str:
    """The document's name, then what differs from the previous run of the same kind."""
    name = str(doc.get("name") or kind)
    changed = [c for c in changed if c["path"] != "name"]
    if not changed:
        return name
    more = f" (+{len(changed) - MAX_IN_LABEL} more)" if len(changed) > MAX_IN_LABEL else ""
    return f"{name}: " + "; ".join(describe(c) for c in changed[:MAX_IN_LABEL]) + more


__all__ = ["changes", "describe", "flatten", "run_label"]
