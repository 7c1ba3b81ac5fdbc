"""Compiled twins of ``tokenfleet.sim`` core modules (see :mod:`tokenfleet._c`)."""
