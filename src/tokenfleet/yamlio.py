"""Reading the YAML files users hand to tokenfleet (scenarios, deals, gateway configs, sweeps, dashboard).

Every failure is a :class:`~tokenfleet.errors.ScenarioError` naming the file: missing, unreadable, larger
than :data:`MAX_YAML_BYTES`, not UTF-8 (with the byte offset), not YAML, nested deeper than
:data:`MAX_DEPTH`, more than :data:`MAX_NODES` values once aliases are expanded, or not a mapping at the
top level. Bytes are read and decoded by :func:`tokenfleet.inputs.read_text`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tokenfleet.errors import InputError, ScenarioError
from tokenfleet.inputs import read_text

MAX_YAML_BYTES = 16 << 20
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: ~20x faster, same safe subset
MAX_DEPTH = 64
MAX_NODES = 1_000_000
_BRACKETS = re.compile(r"[\[\]{}]")


def _check_shape(data: Any, where: str) -> None:
    """Depth and value count (aliases counted each time they are used), walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ScenarioError(
                f"more than {MAX_NODES:,} values (aliases expanding?); a configuration file is far smaller",
                where=where,
            )
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ScenarioError(f"nested deeper than {MAX_DEPTH} levels", where=where)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1) for c in children)
            if isinstance(node, dict):
                for k in node:
                    if not isinstance(k, str | int | float | bool) and k is not None:
                        raise ScenarioError(f"keys must be plain names, got {k!r}", where=where)


def _flow_depth_exceeds(text: str, limit: int) -> bool:
    """A quick scan of ``[ ] { }`` (quotes ignored: only a crude upper bound) so that deep flow nesting is
    refused before the parser spends seconds on it."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            return True
        depth = max(depth, 0)
    return False


def parse_mapping(text: str, where: str) -> dict[str, Any]:
    """YAML text that must hold a mapping at the top level; ``where`` names it in errors."""
    if "\x00" in text:
        raise ScenarioError(f"not a text file: NUL character at offset {text.index(chr(0))}", where=where)
    if _flow_depth_exceeds(text, 4 * MAX_DEPTH):
        raise ScenarioError(f"nested deeper than {MAX_DEPTH} levels", where=where)
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", where=where) from None
    except RecursionError:
        raise ScenarioError(f"nested deeper than {MAX_DEPTH} levels", where=where) from None
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping (key: value lines) at the top level", where=where)
    _check_shape(data, where)
    return data


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``."""
    p = Path(path)
    try:
        text = read_text(p, "YAML file", MAX_YAML_BYTES)
    except InputError as exc:
        raise ScenarioError(str(exc)) from None
    return parse_mapping(text, str(p))


__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_YAML_BYTES", "parse_mapping", "read_mapping"]
