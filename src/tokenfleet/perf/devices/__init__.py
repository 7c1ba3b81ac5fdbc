"""Device families behind one protocol (:class:`~tokenfleet.perf.devices.base.DeviceFamily`), chosen by the
hardware entry's ``family``. Adding a family = one module + one line in :data:`REGISTRY`."""

from __future__ import annotations

from tokenfleet.catalog import HardwareSpec
from tokenfleet.errors import InputError
from tokenfleet.perf.devices.base import DeviceFamily, StepCoefficients
from tokenfleet.perf.devices.hbm import HBMDevice
from tokenfleet.perf.devices.lpu import LPUDevice
from tokenfleet.perf.devices.tiered import TieredDevice
from tokenfleet.perf.devices.wafer import WaferDevice

REGISTRY: dict[str, DeviceFamily] = {
    "hbm": HBMDevice(),
    "wafer": WaferDevice(),
    "lpu": LPUDevice(),
    "tiered": TieredDevice(),
}


def device_for(hw: HardwareSpec) -> DeviceFamily:
    """The device model of a hardware entry's family."""
    try:
        return REGISTRY[hw.family]
    except KeyError:
        raise InputError(f"hardware {hw.hw_id!r} has family {hw.family!r}; known families: "
                         f"{', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "DeviceFamily", "StepCoefficients", "device_for"]
