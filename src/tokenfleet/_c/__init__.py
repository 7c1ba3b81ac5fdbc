"""Compiled twins of the simulator core, built from the same sources by ``setup.py`` (Cython, pure-Python
mode: ``tokenfleet/sim/*.py`` with their ``.pxd`` files). Empty where no C compiler was available at install
time; :mod:`tokenfleet.sim.core` then runs the pure-Python modules, with the same results."""
