"""Errors raised by tokenfleet, one hierarchy rooted at :class:`TokenfleetError`.

    TokenfleetError                 anything the user can fix; the CLI prints it and exits 2
    ├── UnknownIdError              an id not in the catalog (carries the closest ids)
    ├── InputError                  a bad file, field or value (carries where: file / field / row)
    │   └── ScenarioError           a scenario or deal YAML that does not validate
    ├── LayoutError                 a model that does not fit the chosen layout (carries needed / available bytes)
    ├── InfeasibleError             a plan, SLO or constraint set nobody can meet (carries what binds)
    └── EnvironmentProblem          not the input but the machine: port in use, database unreachable, disk
                                    full; the CLI prints it and exits 3

Internal bugs are not TokenfleetErrors: the CLI reports them as one "internal error" line (exit 1) and
shows the traceback with ``tokenfleet --debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TokenfleetError(Exception):
    """Base class: a problem with the user's input or request, reported without a traceback."""


class UnknownIdError(TokenfleetError, KeyError):
    """An id that the catalog does not know."""

    def __init__(self, kind: str, ident: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.ident = ident
        self.known = sorted(known)
        self.closest = difflib.get_close_matches(ident, self.known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in self.closest)}?" if self.closest else ""
        super().__init__(f"unknown {kind} id {ident!r}{hint} (known: {', '.join(self.known)})")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class InputError(TokenfleetError, ValueError):
    """A bad input value; ``where`` names the file, field or row."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ScenarioError(InputError):
    """A scenario, deal or gateway file that fails validation."""


class LayoutError(TokenfleetError, ValueError):
    """A model that does not fit a layout; carries the bytes needed and available."""

    def __init__(self, message: str, needed_bytes: float = 0.0, available_bytes: float = 0.0) -> None:
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes
        super().__init__(message)


class InfeasibleError(TokenfleetError):
    """No plan meets the constraints; ``binding`` lists what binds, in words."""

    def __init__(self, message: str, binding: list[str] | None = None) -> None:
        self.binding = binding or []
        super().__init__(message)


class EnvironmentProblem(TokenfleetError):
    """The input is fine but the environment is not (port in use, unreachable database, disk full): exit 3."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


__all__ = [
    "EnvironmentProblem",
    "InfeasibleError",
    "InputError",
    "LayoutError",
    "ScenarioError",
    "TokenfleetError",
    "UnknownIdError",
]
