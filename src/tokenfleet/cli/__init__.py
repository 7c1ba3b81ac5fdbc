"""The ``tokenfleet`` command line: one typer app, one module per command group.

Each ``tokenfleet.cli.<name>`` module exposes ``register(app)``. Commands are loaded lazily: ``_LAZY`` names
each command, its module and its one-line help, so ``tokenfleet --help`` imports no command module (and
none of scipy, highspy, plotly, ...) and ``tokenfleet X`` imports only X's module. Adding a command is one
module plus one line in ``_LAZY`` (a module listed only in ``_COMMAND_MODULES`` is registered eagerly).

Exit codes: 0 success; 2 bad input (:class:`TokenfleetError`, or a usage error); 3 an environment problem
(:class:`EnvironmentProblem`, a full disk, ...); 1 an internal error (a bug: one line, and the traceback
with ``tokenfleet --debug ...``); 130 interrupted. Every message is one line on stderr.

Boolean switches get a ``--no-X`` form and no value: ``--json true`` is refused (it would otherwise be
read as the next positional argument).
"""

from __future__ import annotations

import errno
import importlib
import itertools
import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from tokenfleet.errors import EnvironmentProblem, TokenfleetError

# command -> (module under tokenfleet.cli, one-line help shown by ``tokenfleet --help``)
_LAZY: dict[str, tuple[str, str]] = {
    "validate": ("validate", "Predict every published result the model supports; print published vs predicted "
                             "and the errors."),
    "calibrate": ("validate", "Re-fit the model's few physical parameters on published results and store them "
                              "with their rows."),
    "perf": ("perf", "Per layout: KV capacity, TTFT, per-user speed, offline and SLO-bound throughput, power, "
                     "energy."),
    "serve": ("serve", "Run the gateway: SLO-tiered routing across pools, failover, metering ledger, /metrics."),
    "hash-key": ("serve", "Print an API key and the salted scrypt hash that goes in GATEWAY.yaml ``keys``."),
    "emulate": ("emulate", "Serve a model with the token timing predicted for HARDWARE at its current load."),
    "usage": ("usage", "Requests, tokens, energy and dollars per key, pool and day."),
    "deal": ("deal", "Value a compute deal: vesting probabilities, warrant values, effective prices, NPV, "
                     "ownership."),
    "simulate": ("simulate", "Simulate SCENARIO request by request and report latency, SLOs, utilisation, "
                             "energy and cost."),
    "plan": ("plan", "Choose the fleet (hardware x count x layout per traffic class) meeting every SLO at least "
                     "cost."),
    "sweep": ("sweep", "Run SCENARIO at every combination of the --grid values and report how the fleet, MW and "
                       "cost move."),
    "ui": ("ui", "Serve the dashboard: edit a scenario, run plan / simulate / deal, compare runs, download "
                 "reports."),
    "catalog": ("catalog", "List and show catalog entries (hardware, models, workloads)."),
}

_COMMAND_MODULES = [
    "catalog",
    "validate",
    "perf",
    "serve",
    "emulate",
    "usage",
    "deal",
    "simulate",
    "plan",
    "sweep",
    "ui",
]

BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"})
MAX_MESSAGE_CHARS = 2000
PIPED_COLUMNS = "160"  # table width when output is piped and $COLUMNS is not set
_loaded: dict[str, TyperGroup] = {}
_state = {"debug": False}


def _fix_switches(cmd: Any) -> Any:
    """Every boolean switch gets a ``--no-X`` form and no ``<bool>`` type column; ``--json true`` is a
    usage error instead of ``true`` being taken as a file name."""
    switches: set[str] = set()
    for p in cmd.params:
        if getattr(p, "is_flag", False) and getattr(p, "is_bool_flag", False):
            longs = [o for o in p.opts if o.startswith("--")]
            if not p.secondary_opts and longs and not longs[0].startswith("--no-") and longs[0] != "--help":
                p.secondary_opts = [f"--no-{longs[0][2:]}"]
            p.metavar = ""
            switches.update(p.opts)
            switches.update(p.secondary_opts)
    for sub in getattr(cmd, "commands", {}).values():
        _fix_switches(sub)
        if not sub.short_help and sub.help:  # click would cut it at 45 characters with "..."
            sub.short_help = " ".join(sub.help.split("\n\n")[0].split())
    original = cmd.parse_args

    def parse_args(ctx: Any, args: list[str]) -> list[str]:
        for flag, nxt in itertools.pairwise(args):
            if flag == "--":
                break
            if flag in switches and nxt.lower() in BOOL_WORDS:
                raise typer.BadParameter(
                    "a switch takes no value: write "
                    + (f"{flag} or --no-{flag[2:]}" if not flag.startswith("--no-") else flag)
                    + f", not '{flag} {nxt}'",
                    ctx=ctx,
                    param_hint=f"'{flag}'",
                )
        return original(ctx, args)

    cmd.parse_args = parse_args
    _quiet_help(cmd)
    return cmd


def _quiet_help(cmd: Any) -> None:
    """No ``<bool>`` beside ``--help``."""
    make_help = cmd.get_help_option

    def get_help_option(ctx: Any) -> Any:
        opt = make_help(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = get_help_option


def _module_group(module: str) -> TyperGroup:
    if module not in _loaded:
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
        importlib.import_module(f"tokenfleet.cli.{module}").register(sub)
        group = typer.main.get_group(sub)
        for c in group.commands.values():
            _fix_switches(c)
        _loaded[module] = group
    return _loaded[module]


class _LazyCommand(TyperCommand):
    """Stands in for a command in ``tokenfleet --help``; loads the real one when it is run."""

    def __init__(self, name: str, module: str, short: str) -> None:
        super().__init__(name, help=short, short_help=short, add_help_option=False)
        self.module = module

    def real(self) -> Any:
        group = _module_group(self.module)
        assert self.name is not None
        return group.commands[self.name]

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:  # pragma: no cover - make_context hands over to the real one
        return self.real().invoke(ctx)


class _LazyGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for p in self.params:
            if getattr(p, "is_flag", False):
                p.metavar = ""
        _quiet_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(n for n in _LAZY if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in _LAZY:
            module, short = _LAZY[cmd_name]
            return _LazyCommand(cmd_name, module, short)
        return None


app = typer.Typer(
    name="tokenfleet",
    help="Plan, simulate and run multi-vendor AI inference fleets; value the compute deals behind them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: wraps at word boundaries to the terminal, no boxed columns
    cls=_LazyGroup,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an internal error."),
) -> None:
    """Plan, simulate and run multi-vendor AI inference fleets; value the compute deals behind them."""
    _state["debug"] = debug


_lazy_modules = {m for m, _ in _LAZY.values()}
for _name in _COMMAND_MODULES:
    if _name not in _lazy_modules:  # a module without a _LAZY line: registered eagerly
        importlib.import_module(f"tokenfleet.cli.{_name}").register(app)

_ENV_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EADDRINUSE, errno.EADDRNOTAVAIL,
               errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EMFILE, errno.ENFILE,
               errno.ENOMEM, errno.EIO}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"... ({len(text) - MAX_MESSAGE_CHARS:,} more characters)"
    return text


def _say(prefix: str, text: str) -> None:
    """One message on stderr: one line when captured; wrapped at word boundaries (paths and ids whole) to the
    terminal's width, or to ``$COLUMNS`` when the caller sets it."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True)
    line = f"{prefix} {text}".rstrip()
    columns = os.environ.get("COLUMNS", "")
    width = (int(columns) if columns.isdigit() and columns != PIPED_COLUMNS else
             console.width if sys.stderr.isatty() else 0)
    if width >= 20 and len(line) > width:
        import textwrap

        line = "\n".join(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False,
                                       subsequent_indent="  "))
    body = line[len(prefix):]
    console.print(f"[bold red]{prefix}[/]{escape(body)}", highlight=False)


def classify(exc: BaseException) -> tuple[int, str]:
    """``(exit code, one-line message)`` for an exception that escaped a command."""
    if isinstance(exc, EnvironmentProblem):
        return 3, _one_line(exc)
    if isinstance(exc, TokenfleetError):
        return 2, _one_line(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        msg = f"{where}{exc.strerror or _one_line(exc)}"
        if exc.errno in _ENV_ERRNOS:
            return 3, msg
        if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | FileExistsError
                      | PermissionError):
            return 2, msg
        return 3, msg
    if isinstance(exc, MemoryError):
        return 3, "out of memory (the input asks for more work than this machine holds)"
    return 1, (f"internal error: {exc.__class__.__name__}: {_one_line(exc)} "
               "(a bug in tokenfleet; rerun with `tokenfleet --debug ...` for the traceback)")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tokenfleet`` console script."""
    if not sys.stdout.isatty():  # piped or captured: render tables at a readable width instead of 80 columns
        os.environ.setdefault("COLUMNS", PIPED_COLUMNS)
    args = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = "--debug" in args[: next((i for i, a in enumerate(args) if not a.startswith("-")),
                                               len(args))]
    try:
        app(args=args, standalone_mode=True, prog_name="tokenfleet")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _say("interrupted", "")
        sys.exit(130)
    except Exception as exc:  # the one place that turns every failure into one line
        if _state["debug"]:
            traceback.print_exc()
        code, text = classify(exc)
        _say("error:", text)
        sys.exit(code)


__all__ = ["app", "classify", "main"]
