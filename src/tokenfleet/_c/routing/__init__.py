"""Compiled twin of ``tokenfleet.routing.fast`` (see :mod:`tokenfleet._c`)."""
