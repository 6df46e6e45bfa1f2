"""The job routes every component shares (status, cancel) and helpers for its own job routes."""

from flask import Blueprint, jsonify
from marshmallow import ValidationError

from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.views import cursor

HARDWARE = ("cpu", "cuda", "mps")


def job_blueprint(component, manager):
    """Return a blueprint at ``/api/<name>`` with ``status/<id>`` and ``cancel/<id>``."""
    bp = Blueprint(f"{component.name}_jobs", __name__, url_prefix=f"/api/{component.name}")

    @bp.get("/status/<job_id>")
    def status(job_id):
        """Return a job's (or a group's) status, progress and timing."""
        return jsonify(manager.require_status(cursor(), job_id))

    @bp.post("/cancel/<job_id>")
    def cancel(job_id):
        """Cancel a queued or running job (or every job of a group) and kill its processes."""
        body = manager.require_status(cursor(), job_id)
        cancelled = manager.cancel(job_id)
        if not cancelled:
            raise ApiError(
                409,
                f"{job_id!r} is {body['status']}, not a queued or running job of this component",
            )
        return jsonify(
            {
                component.id_column: job_id,
                "status": "cancelled",
                "cancelled": cancelled,
                "message": "cancel requested; processes killed",
            }
        )

    return bp


def created(body, location):
    """Return a 201 response for a submitted job (its row exists) with its status URL."""
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


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
    import os
    import platform

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
