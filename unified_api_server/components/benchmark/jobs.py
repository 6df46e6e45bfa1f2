"""Benchmark jobs: ``POST /api/benchmark/run`` measures models x devices x batch sizes x precisions.

One request is one job group (a batch whose id is the ``run_id`` answered); each combination is a
benchmark run of that batch, measured in its own child process (:mod:`unified_api_server.components.benchmark.measure`)
one after another, so the status tells ``completed_models`` of ``total_models``.
"""

import json
import sys
import uuid

from flask import jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from unified_api_server.components import families
from unified_api_server.components.benchmark.component import PRECISIONS
from unified_api_server.components.benchmark.measure import DTYPES
from unified_api_server.core.config import Setting
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.child import PROJECT_ROOT
from unified_api_server.core.jobs.manager import JobSpec
from unified_api_server.core.jobs.status import group_members
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.jobs import created, detect_hardware, hardware_list, job_blueprint
from unified_api_server.core.web.query import Filters, parse_limit
from unified_api_server.core.web.views import cursor

SETTINGS = (
    Setting(
        "benchmark_timeout",
        int,
        900,
        "seconds one model x device x batch size x precision may take",
        minimum=1,
    ),
    Setting("max_combinations", int, 64, "combinations one request may ask for", minimum=1),
)
DEFAULT_MODELS = ["bert-base-uncased"]


def _model_names(value):
    if not all(families.valid_model_name(v) for v in value):
        raise ValidationError("each must be a model id such as 'bert-base-uncased' or 'org/name'")


class RunSchema(Schema):
    """The body of ``POST /api/benchmark/run``."""

    models = fields.List(fields.String(), load_default=None, validate=_model_names)
    hardware = fields.Raw(load_default=None)
    batch_sizes = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 1024)),
        load_default=lambda: [1, 8],
        validate=validate.Length(min=1, max=16),
    )
    precision = fields.Raw(load_default="fp32")
    iterations = fields.Integer(strict=True, load_default=20, validate=validate.Range(1, 10000))
    warmup = fields.Integer(strict=True, load_default=3, validate=validate.Range(0, 1000))
    sequence_length = fields.Integer(
        strict=True, load_default=128, validate=validate.Range(1, 4096)
    )
    model_size = fields.String(load_default="default", validate=validate.OneOf(["default", "tiny"]))
    template_type = fields.String(load_default=None)
    timeout = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))


def _precisions(value):
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(v in PRECISIONS for v in values):
        raise ValidationError(
            {"precision": [f"must be one of {', '.join(PRECISIONS)} or a list of them"]}
        )
    return list(dict.fromkeys(values))


def create_blueprint(component, manager, settings):
    """Return the Benchmark's job routes."""
    bp = job_blueprint(component, manager)
    schema = RunSchema()

    @bp.post("/run")
    def run():
        """Start measuring every requested combination; answer at once with the run's id."""
        body = schema.load(json_body(required=False))
        models = body["models"] or DEFAULT_MODELS
        hardware = hardware_list(body["hardware"])
        precisions = _precisions(body["precision"])
        combos = [
            (m, h, b, p)
            for m in models
            for h in hardware
            for b in body["batch_sizes"]
            for p in precisions
        ]
        if len(combos) > settings["max_combinations"]:
            raise ApiError(
                400,
                f"{len(combos)} combinations asked for; at most "
                f"{settings['max_combinations']} per request",
            )
        resolved = {}
        for model in dict.fromkeys(models):
            try:
                resolved[model] = families.resolve(model, body["template_type"])
            except families.UnknownFamily as exc:
                raise ApiError(400, str(exc), {"models": model}) from None
        run_id = str(uuid.uuid4())
        specs = []
        for model, device, batch_size, precision in combos:
            family, _, model_type = resolved[model]
            config = families.TINY_CONFIGS[model_type] if body["model_size"] == "tiny" else {}
            task = {
                "model_name": model,
                "model_type": model_type,
                "family": family,
                "hardware": device,
                "batch_size": batch_size,
                "precision": precision,
                "iterations": body["iterations"],
                "warmup": body["warmup"],
                "sequence_length": body["sequence_length"],
                "config": config,
            }
            parameters = {
                k: task[k]
                for k in ("iterations", "warmup", "sequence_length", "model_type", "family")
            }
            specs.append(
                JobSpec(
                    row={
                        "model_name": model,
                        "hardware": device,
                        "batch_size": batch_size,
                        "precision": precision,
                        "parameters": {**parameters, "model_size": body["model_size"]},
                    },
                    argv=[
                        sys.executable,
                        "-m",
                        "unified_api_server.components.benchmark.measure",
                        json.dumps(task),
                    ],
                    timeout=body["timeout"] or settings["benchmark_timeout"],
                    cwd=PROJECT_ROOT,
                )
            )
        manager.submit(
            specs,
            group_id=run_id,
            group={
                "name": f"benchmark of {', '.join(dict.fromkeys(models))}",
                "metadata": {
                    "models": models,
                    "hardware": hardware,
                    "batch_sizes": body["batch_sizes"],
                    "precision": precisions,
                },
            },
        )
        status = manager.require_status(cursor(), run_id)
        return created(
            {
                "run_id": run_id,
                "status": "initializing",
                "message": f"measuring {len(specs)} combination(s)",
                "started_at": status["started_at"],
                "total_models": len(specs),
                "run_ids": [s.item_id for s in specs],
            },
            f"/api/benchmark/status/{run_id}",
        )

    @bp.get("/results/<run_id>")
    def results(run_id):
        """Return a benchmark (its status and every combination's figures) or one run."""
        body = manager.require_status(cursor(), run_id)
        members = group_members(manager.repository, cursor(), run_id)
        if members is None:
            return jsonify({**body, **manager.repository.require(cursor(), run_id)})
        body["results"] = [manager.repository.get(cursor(), m["run_id"]) for m in members]
        return jsonify(body)

    @bp.get("/models")
    def models():
        """List the model types that can be benchmarked, by family."""
        return jsonify(
            {
                "families": [
                    {"family": family, "template": template, "model_types": list(types)}
                    for family, (template, types) in families.FAMILIES.items()
                ],
                "default_models": DEFAULT_MODELS,
                "precisions": list(DTYPES),
            }
        )

    @bp.get("/hardware")
    def hardware():
        """List the devices and whether this machine has them."""
        return jsonify({"hardware": detect_hardware()})

    @bp.get("/query")
    def query():
        """Return stored runs filtered by model, hardware and batch size, newest first."""
        unknown = sorted(
            set(request.args) - {"model", "hardware", "batch_size", "precision", "limit", "cursor"}
        )
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)}")
        args = MultiDict(
            (("model_name" if k == "model" else k), v)
            for k, v in request.args.items(multi=True)
            if k not in ("limit", "cursor")
        )
        limit = parse_limit(request.args.get("limit"))
        runs, next_cursor = manager.repository.list(
            cursor(), Filters(component, args), limit, request.args.get("cursor")
        )
        return jsonify(
            {"runs": runs, "count": len(runs), "limit": limit, "next_cursor": next_cursor}
        )

    return bp
