"""The job API every component with jobs shares, built from its :class:`Jobs` description.

``POST /api/<name><submission path>`` starts jobs and answers 201 at once with the job's (or
group's) id, ``status: initializing``, ``started_at`` and what the plan adds, plus a
``Location`` of its status; ``GET /status/<id>``, ``POST /cancel/<id>``, ``GET
/results/<id>`` and ``GET /hardware`` are the same for every component.
"""

import uuid

from flask import Blueprint, jsonify

from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.hardware import detect_hardware
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.resources import answer, cursor


def job_blueprint(component, jobs, manager, reads):
    """Return the blueprint at ``/api/<name>`` of ``component``'s jobs (``jobs``: its executor)."""
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

    @bp.get(f"/{jobs.results_path}/<job_id>")
    def results(job_id):
        """Return a job with its status, steps and figures, or a group with each member's."""
        body = manager.require_status(cursor(), job_id)
        item = reads.get(cursor(), job_id)
        if item is not None:
            return jsonify(jobs.describe({**body, **item}))
        members = reads.batch_members(cursor(), job_id) or []
        body["results"] = [reads.get(cursor(), m[component.id_column]) for m in members]
        return jsonify(body)

    @bp.get("/hardware")
    def hardware():
        """List the devices jobs can run on and whether this machine has them."""
        return jsonify({"hardware": detect_hardware()})

    for submission in jobs.submissions:
        _add_submission(bp, component, jobs, manager, submission)
    jobs.register_routes(bp, reads)
    return bp


def _add_submission(bp, component, jobs, manager, submission):
    schema = submission.schema()

    def submit():
        body = schema.load(json_body(required=submission.body_required))
        plan = getattr(jobs, submission.plan)(body)
        group_id = str(uuid.uuid4()) if plan.group is not None else None
        manager.submit(plan.specs, group_id, plan.group)
        job_id = group_id or plan.specs[0].item_id
        started_at = manager.require_status(cursor(), job_id)["started_at"]
        submitted = {
            plan.id_field or component.id_column: job_id,
            "status": "initializing",
            "started_at": started_at,
            **plan.answer,
        }
        return answer(submitted, 201, f"/api/{component.name}/status/{job_id}")

    submit.__doc__ = getattr(jobs, submission.plan).__doc__
    bp.add_url_rule(submission.path, f"submit_{submission.plan}", submit, methods=["POST"])
