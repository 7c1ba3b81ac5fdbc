"""Grid specs ``KEY=VALUES`` checked against the scenario schema, and the points they expand to.

A key is a dotted path through the scenario's pydantic models: ``plan.power_budget_mw``,
``facility.usd_per_mwh``, ``sim.seed``. List items are picked by index or by name (``name`` or
``hardware`` field): ``traffic.realtime.arrivals.rate_rps``, ``plan.candidates.cs3.price_usd``,
``pools.0.replicas``. One derived key: ``share.<tier>`` sets the fraction of request rate in the classes of
that tier while keeping the total rate (see :mod:`tokenfleet.sweep.share`).

VALUES is ``start:stop:step`` (``stop`` included), or a comma list (``a,b,c``), each item read as a YAML
scalar (``500``, ``0.2``, ``true``, ``cs3``). Bad keys and values raise :class:`~tokenfleet.errors.InputError`
naming the ``--grid`` option, with a "did you mean" for near-miss keys.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import types
import typing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from pydantic import BaseModel

from tokenfleet.errors import InputError

Value = int | float | str | bool | None
SHARE_PREFIX = "share."
MAX_POINTS = 100_000


@dataclass(frozen=True, slots=True)
class Axis:
    """One grid dimension: a key and the values it takes."""

    key: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Point:
    """One combination: its index in the grid (row-major over the axes) and the value of each key."""

    index: int
    assignments: tuple[tuple[str, Value], ...]

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.assignments)


# ---- values -------------------------------------------------------------------------------------------
def _scalar(text: str, where: str) -> Value:
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(v, str):  # YAML 1.1 reads 1.5e6 (no dot or sign in the exponent) as a string
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise InputError(f"{text!r} is not a single value (number, true/false or a word)", where=where)


def _range(text: str, where: str) -> tuple[Value, ...]:
    parts = text.split(":")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise InputError(f"range {text!r} must be start:stop:step with numbers", where=where) from None
    if step <= 0:
        raise InputError(f"range {text!r}: step must be > 0", where=where)
    if stop < start:
        raise InputError(f"range {text!r}: stop must be >= start", where=where)
    n = int((stop - start) / step) + 1
    if n > MAX_POINTS:
        raise InputError(f"range {text!r} has {n:,} values (at most {MAX_POINTS:,})", where=where)
    vals = [start + i * step for i in range(n)]
    if all(v == v.to_integral_value() for v in vals) and "." not in text and "e" not in text.lower():
        return tuple(int(v) for v in vals)
    return tuple(float(v) for v in vals)


def parse_values(text: str, where: str) -> tuple[Value, ...]:
    text = text.strip()
    if not text:
        raise InputError("no values after '='", where=where)
    if text.count(":") == 2 and "," not in text:
        return _range(text, where)
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise InputError(f"empty item in list {text!r}", where=where)
    return tuple(_scalar(t, where) for t in items)


def parse_axis(spec: str) -> Axis:
    """``KEY=VALUES`` -> :class:`Axis` (the key is not yet checked against a scenario)."""
    key, sep, rest = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"expected KEY=VALUES, got {spec!r}", where="--grid")
    return Axis(key, parse_values(rest, f"--grid {key}"))


def expand(axes: list[Axis]) -> list[Point]:
    """Every combination, first axis slowest, numbered from 0."""
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise InputError(f"a key appears twice: {keys}", where="--grid")
    combos = itertools.product(*(a.values for a in axes))
    return [Point(i, tuple(zip(keys, c, strict=True))) for i, c in enumerate(combos)]


# ---- keys against the schema --------------------------------------------------------------------------
def _unwrap(ann: Any) -> list[Any]:
    """The concrete types inside Optional / Union / Annotated."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(ann) for t in _unwrap(a) if t is not type(None)]
    return [ann]


def _submodel(ann: Any) -> type[BaseModel] | None:
    for t in _unwrap(ann):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _container(ann: Any) -> tuple[str, Any] | None:
    for t in _unwrap(ann):
        origin = typing.get_origin(t)
        if origin is list:
            return "list", typing.get_args(t)[0]
        if origin is dict:
            return "dict", typing.get_args(t)[1]
    return None


def leaf_keys(model: type[BaseModel], prefix: str = "", depth: int = 0) -> list[str]:
    """All dotted scalar paths of ``model`` (lists shown as ``<i>``): for "did you mean" hints."""
    out: list[str] = []
    for name, f in model.model_fields.items():
        if name == "extensions":
            continue
        path = f"{prefix}{name}"
        sub = _submodel(f.annotation)
        cont = _container(f.annotation)
        if sub is not None and depth < 6:
            out += leaf_keys(sub, path + ".", depth + 1)
        elif cont is not None:
            inner = _submodel(cont[1])
            if inner is not None and depth < 6:
                out += leaf_keys(inner, path + ".<i>.", depth + 1)
        else:
            out.append(path)
    return out


def _list_index(items: list[Any], part: str, where: str, path: str) -> int:
    if part.lstrip("-").isdigit():
        i = int(part)
        if not -len(items) <= i < len(items):
            raise InputError(f"{path} has {len(items)} item(s); index {i} is out of range", where=where)
        return i % len(items)
    names = []
    for i, it in enumerate(items):
        if isinstance(it, dict):
            ident = it.get("name", it.get("hardware"))
            names.append(str(ident))
            if ident == part:
                return i
    raise InputError(f"{path} has no item named {part!r} (items: {', '.join(names) or 'none'})", where=where)


def set_key(data: dict[str, Any], model: type[BaseModel], key: str, value: Value) -> dict[str, Any]:
    """A deep copy of ``data`` with ``key`` set to ``value``; checks every step of the path exists in the
    schema (``model``) and, for list items, in the data."""
    where = f"--grid {key}"
    out = copy.deepcopy(data)
    parts = key.split(".")
    node: Any = out
    cur: type[BaseModel] | None = model
    cont: tuple[str, Any] | None = None
    done: list[str] = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        path = ".".join(done) or "the scenario"
        if cont is not None:  # inside a list or dict field
            kind, inner = cont
            if last and (_submodel(inner) is not None or _container(inner) is not None):
                raise InputError(f"{key} is a section, not a single value: name a field inside it", where=where)
            if kind == "list":
                idx = _list_index(node, part, where, path)
                if last:
                    node[idx] = value
                    return out
                node = node[idx]
            else:
                if last:
                    node[part] = value
                    return out
                node = node.setdefault(part, {})
            cur, cont = _submodel(inner), _container(inner)
        elif cur is not None:
            fields = {k: f for k, f in cur.model_fields.items() if k != "extensions"}
            if part not in fields:
                raise InputError(_unknown(key, part, path, sorted(fields), model), where=where)
            ann = fields[part].annotation
            if last:
                if _submodel(ann) is not None or _container(ann) is not None:
                    raise InputError(f"{key} is a section, not a single value: name a field inside it", where=where)
                node[part] = value
                return out
            sub, c = _submodel(ann), _container(ann)
            if c is not None:
                if part not in node or node[part] is None:
                    raise InputError(f"{key}: the scenario has no {'.'.join([*done, part])} to index", where=where)
            elif sub is not None:
                if node.get(part) is None:
                    node[part] = {}
            else:
                raise InputError(f"{'.'.join([*done, part])} is a single value; it has no field {parts[n + 1]!r}",
                                 where=where)
            node = node[part]
            cur, cont = sub if c is None else None, c
        else:
            raise InputError(f"{path} has no field {part!r}", where=where)
        done.append(part)
    return out


def _unknown(key: str, part: str, path: str, fields: list[str], model: type[BaseModel]) -> str:
    pattern = key
    hint = difflib.get_close_matches(pattern, leaf_keys(model), n=3, cutoff=0.6)
    msg = f"{key!r} is not in the scenario schema: {path} has no field {part!r} (fields: {', '.join(fields)})"
    if hint:
        msg += f"; did you mean {', '.join(repr(h) for h in hint)}?"
    return msg


__all__ = ["Axis", "Point", "Value", "expand", "leaf_keys", "parse_axis", "parse_values", "set_key"]
