"""Benchmark jobs: ``POST /api/benchmark/run`` measures models x devices x batch sizes x precisions.

One request is one job group (a batch whose id is the ``run_id`` answered); each combination
is a benchmark run of that batch, measured in its own child process (:mod:`.measure`) one after
another, so the status tells ``completed_models`` of ``total_models``.
"""

import json
import sys
from itertools import product

from flask import jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from unified_api_server.components import families
from unified_api_server.components.benchmark.figures import PRECISIONS
from unified_api_server.components.benchmark.measure import DTYPES
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.child import PROJECT_ROOT
from unified_api_server.core.jobs.executor import Jobs, JobSpec, Plan, Submission
from unified_api_server.core.jobs.hardware import hardware_list
from unified_api_server.core.settings import Setting
from unified_api_server.core.web.args import only, parse_limit, parse_query
from unified_api_server.core.web.resources import cursor

DEFAULT_MODELS = ["bert-base-uncased"]
_QUERY_ARGS = ("model", "hardware", "batch_size", "precision", "limit", "cursor")


class RunSchema(Schema):
    """The body of ``POST /api/benchmark/run``."""

    models = fields.List(fields.String(), load_default=None, validate=families.check_model_names)
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


def _resolve(models, template_type):
    resolved = {}
    for model in dict.fromkeys(models):
        try:
            resolved[model] = families.resolve(model, template_type)
        except families.UnknownFamily as exc:
            raise ApiError(400, str(exc), {"models": model}) from None
    return resolved


class BenchmarkJobs(Jobs):
    """Measure latency, throughput and memory of real PyTorch models, one combination a job."""

    settings = (
        Setting(
            "benchmark_timeout",
            int,
            900,
            "seconds one model x device x batch size x precision may take",
            minimum=1,
        ),
        Setting("max_combinations", int, 64, "combinations one request may ask for", minimum=1),
    )
    submissions = (Submission("/run", RunSchema, "plan_run", body_required=False),)

    def plan_run(self, body):
        """Start measuring every requested combination; answer at once with the run's id."""
        models = body["models"] or DEFAULT_MODELS
        hardware = hardware_list(body["hardware"])
        precisions = _precisions(body["precision"])
        combos = list(product(models, hardware, body["batch_sizes"], precisions))
        most = self.settings_values["max_combinations"]
        if len(combos) > most:
            raise ApiError(400, f"{len(combos)} combinations asked for; at most {most} per request")
        resolved = _resolve(models, body["template_type"])
        specs = [self._spec(combo, resolved[combo[0]], body) for combo in combos]
        group = {
            "name": f"benchmark of {', '.join(dict.fromkeys(models))}",
            "metadata": {
                "models": models,
                "hardware": hardware,
                "batch_sizes": body["batch_sizes"],
                "precision": precisions,
            },
        }
        answer = {
            "message": f"measuring {len(specs)} combination(s)",
            "total_models": len(specs),
            "run_ids": [s.item_id for s in specs],
        }
        return Plan(specs, answer, group=group)

    def _spec(self, combo, resolved, body):
        model, device, batch_size, precision = combo
        family, _, model_type = resolved
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
            "config": families.TINY_CONFIGS[model_type] if body["model_size"] == "tiny" else {},
        }
        recorded = ("iterations", "warmup", "sequence_length", "model_type", "family")
        parameters = {**{k: task[k] for k in recorded}, "model_size": body["model_size"]}
        row = {
            "model_name": model,
            "hardware": device,
            "batch_size": batch_size,
            "precision": precision,
            "parameters": parameters,
        }
        argv = [sys.executable, "-m", "unified_api_server.components.benchmark.measure"]
        return JobSpec(
            row=row,
            argv=[*argv, json.dumps(task)],
            timeout=body["timeout"] or self.settings_values["benchmark_timeout"],
            cwd=PROJECT_ROOT,
        )

    def register_routes(self, bp, reads):
        """Add ``/models`` (what can be measured) and ``/query`` (stored runs, filtered)."""
        component = self.component

        @bp.get("/models")
        def models():
            """List the model types that can be benchmarked, by family."""
            found = [
                {"family": family, "template": template, "model_types": list(types)}
                for family, (template, types) in families.FAMILIES.items()
            ]
            return jsonify(
                {"families": found, "default_models": DEFAULT_MODELS, "precisions": list(DTYPES)}
            )

        @bp.get("/query")
        def query():
            """Return stored runs filtered by model, hardware and batch size, newest first."""
            only(request.args, _QUERY_ARGS)
            args = MultiDict(
                (("model_name" if k == "model" else k), v)
                for k, v in request.args.items(multi=True)
                if k not in ("limit", "cursor")
            )
            limit = parse_limit(request.args.get("limit"))
            runs, next_cursor = reads.list(
                cursor(), parse_query(component, args), limit, request.args.get("cursor")
            )
            return jsonify(
                {"runs": runs, "count": len(runs), "limit": limit, "next_cursor": next_cursor}
            )
