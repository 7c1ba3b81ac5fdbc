"""Builds the compiled twin of the simulator core when it can (see ``tokenfleet.sim.core``).

The seven core modules (``CORE``) are pure Python; with the ``.pxd`` beside each (C types only) Cython compiles
the same source into ``tokenfleet._c.<module>``. Each twin ends with the SHA-256 of its source, so a twin left
behind by an edited checkout is not used. Without Cython or a C compiler, or with ``TOKENFLEET_PURE_PYTHON=1``,
the package installs without the twins and runs the pure-Python core, with the same results, slower.
Everything else about the package is in ``pyproject.toml``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src" / "tokenfleet"
CORE = ["sim/seq", "sim/kv", "sim/itertime", "sim/steptime", "sim/replica", "sim/loop", "routing/fast"]
GEN = ROOT / "build" / "cycore"  # the twins' sources: the core modules copied under tokenfleet/_c/
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "embedsignature": True}


def _warn(msg: str) -> None:
    print(f"tokenfleet: {msg}; the pure-Python simulator core will run (same results, slower)", file=sys.stderr)


def _write_if_changed(path: Path, data: bytes) -> None:
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _twin_sources() -> None:
    """Copy each core module (and its .pxd) to GEN/tokenfleet/_c/, stamped with the source digest."""
    for pkg in ("tokenfleet", "tokenfleet/_c", "tokenfleet/_c/sim", "tokenfleet/_c/routing"):
        _write_if_changed(GEN / pkg / "__init__.py", b"")
    for m in CORE:
        py, pxd = (SRC / m).with_suffix(".py"), (SRC / m).with_suffix(".pxd")
        digest = hashlib.sha256(py.read_bytes() + pxd.read_bytes()).hexdigest()
        out = GEN / "tokenfleet" / "_c" / m
        _write_if_changed(out.with_suffix(".py"), py.read_bytes() + f'\n__source_sha256__ = "{digest}"\n'.encode())
        _write_if_changed(out.with_suffix(".pxd"), pxd.read_bytes())


class OptionalBuildExt(build_ext):
    """Compile the twins; any failure leaves the pure-Python core in charge instead of failing the install."""

    def run(self) -> None:
        if os.environ.get("TOKENFLEET_PURE_PYTHON"):
            _warn("TOKENFLEET_PURE_PYTHON is set: compiled core not built")
            return
        try:
            from Cython.Build import cythonize
        except ImportError:
            _warn("Cython is not installed: compiled core not built")
            return
        try:
            _twin_sources()
            done = {e.name: e for e in cythonize(self.extensions, compiler_directives=DIRECTIVES,
                                                  include_path=[str(GEN)], quiet=True)}
            for ext in self.extensions:  # keep setuptools' Extension objects; compile the generated C
                ext.sources = done[ext.name].sources
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "no compiled core", never a failed install
            _warn(f"compiled core not built ({type(exc).__name__}: {exc})")
            self._remove_partial()

    def _remove_partial(self) -> None:
        """A half-built set of twins must not be loaded: remove what this build wrote."""
        for ext in self.extensions:
            target = Path(self.get_ext_fullpath(ext.name))
            if target.is_file():
                target.unlink()


def _extensions() -> list[Extension]:
    args = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off"]  # no fused multiply-add: same bits
    return [
        Extension(f"tokenfleet._c.{m.replace('/', '.')}", [str((GEN / "tokenfleet" / "_c" / m).with_suffix(".py"))],
                  extra_compile_args=args)
        for m in CORE
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
