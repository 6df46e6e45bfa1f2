"""The devices jobs run on: validating a request's ``hardware``, and what this machine has."""

import os
import platform

from marshmallow import ValidationError

HARDWARE = ("cpu", "cuda", "mps")


def hardware_list(value, available=HARDWARE):
    """Validate a ``hardware`` value (a name or a list of names); return the list."""
    if value is None:
        return ["cpu"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError({"hardware": ["must be a device or a list of them"]})
    unknown = sorted(set(value) - set(available))
    if unknown:
        raise ValidationError(
            {"hardware": [f"unknown device(s) {', '.join(unknown)}; use {', '.join(available)}"]}
        )
    return list(dict.fromkeys(value))


def detect_hardware():
    """Return the devices this machine has, without importing torch (cheap, for listings)."""
    cuda = os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
    mps = platform.system() == "Darwin" and platform.machine() == "arm64"
    return [
        {"name": "cpu", "available": True},
        {
            "name": "cuda",
            "available": cuda,
            **({} if cuda else {"reason": "no NVIDIA GPU or driver on this machine"}),
        },
        {
            "name": "mps",
            "available": mps,
            **({} if mps else {"reason": "Apple GPUs (MPS) exist only on Apple silicon"}),
        },
    ]
