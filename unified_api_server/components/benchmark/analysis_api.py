"""The judging's settings over HTTP: ``/thresholds`` (list, set, delete a selector's) and
``/run/<run_id>/distribution-change`` (mark a run as the start of a new distribution)."""

from flask import jsonify, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from unified_api_server.components.benchmark import thresholds
from unified_api_server.components.benchmark.analysis import DEFAULTS, SELECTOR
from unified_api_server.components.benchmark.figures import PRECISIONS
from unified_api_server.core.component import DbRoutes
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.openapi_ops import body, error_responses, obj, ok
from unified_api_server.core.web.resources import ComponentView, answer, cursor, state

_POSITIVE = validate.Range(min=0, min_inclusive=False)


class SelectorSchema(Schema):
    """Which series thresholds apply to: each part left out (or null) matches any."""

    model_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 256))
    hardware = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))
    batch_size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    precision = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(PRECISIONS)
    )
    metric = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))


class ThresholdSchema(SelectorSchema):
    """The body of ``PUT /thresholds``: a selector and its figures (left out: the defaults)."""

    percent = fields.Float(load_default=DEFAULTS["percent"], validate=_POSITIVE)
    z = fields.Float(load_default=DEFAULTS["z"], validate=_POSITIVE)
    window = fields.Integer(
        strict=True, load_default=DEFAULTS["window"], validate=validate.Range(2, 1000)
    )
    min_points = fields.Integer(
        strict=True, load_default=DEFAULTS["min_points"], validate=validate.Range(1, 1000)
    )

    @validates_schema
    def _points_fit(self, data, **_kwargs):
        """A window must be able to hold the points it needs."""
        if data["min_points"] > data["window"]:
            raise ValidationError(
                f"must be at most window ({data['window']})", field_name="min_points"
            )


class MarkSchema(Schema):
    """The optional body of a distribution change: one metric, or (left out) every metric."""

    metric = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))


class Thresholds(ComponentView):
    """``/thresholds``: what makes a change a regression or an improvement, per selector."""

    def get(self):
        """List the thresholds set per selector, most specific first, and the defaults."""
        found = thresholds.list_thresholds(cursor())
        return jsonify({"defaults": thresholds.defaults(), "thresholds": found})

    def put(self):
        """Set one selector's thresholds (replacing its earlier ones)."""
        data = ThresholdSchema().load(json_body())
        selector = {n: data[n] for n in SELECTOR}

        def work(cur):
            row = thresholds.set_threshold(cur, selector, data)
            return row, {"model_name": selector["model_name"], **row}

        return jsonify(state().writes.change(work, "updated", "threshold"))

    def delete(self):
        """Delete one selector's thresholds (its series then take the next most specific)."""
        selector = SelectorSchema().load(request.args)

        def work(cur):
            thresholds.delete_threshold(cur, selector)
            return None, {"model_name": selector["model_name"], "selector": selector}

        state().writes.change(work, "deleted", "threshold")
        return jsonify({"deleted": True, "selector": selector})


class DistributionChange(ComponentView):
    """``/run/<run_id>/distribution-change``: later runs' windows start at this run."""

    def post(self, run_id):
        """Mark a run as the start of a new distribution (of one metric, or of all)."""
        metric = MarkSchema().load(json_body(required=False))["metric"]

        def work(cur):
            mark, model_name = thresholds.mark(cur, run_id, metric)
            event = {"id": run_id, "model_name": model_name, **mark} if model_name else None
            return (mark, event is not None), event

        mark, created = state().writes.change(work, "created", "distribution_change")
        return answer(mark, 201 if created else 200)


def _register(bp, component):
    name = component.name
    bp.add_url_rule("/thresholds", view_func=Thresholds.as_view(f"{name}_thresholds", component))
    bp.add_url_rule(
        f"/{component.entity}/<run_id>/distribution-change",
        view_func=DistributionChange.as_view(f"{name}_distribution_change", component),
    )


_TEXT = {"type": "string", "nullable": True}
_SELECTOR = obj(
    {
        "model_name": _TEXT,
        "hardware": _TEXT,
        "batch_size": {"type": "integer", "minimum": 1, "nullable": True},
        "precision": {**_TEXT, "enum": [*PRECISIONS, None]},
        "metric": _TEXT,
    }
)
_FIGURES = {
    "percent": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
    "z": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
    "window": {"type": "integer", "minimum": 2, "maximum": 1000},
    "min_points": {"type": "integer", "minimum": 1, "maximum": 1000},
}
_ROW = obj({"selector": _SELECTOR, **_FIGURES, "updated_at": {"type": "string"}}, ["selector"])


def _thresholds_doc(component, method, rule):
    """Document ``/thresholds``: GET lists, PUT sets, DELETE removes one selector's."""
    errors = error_responses(400, 503)
    if method == "GET":
        listed = {"defaults": obj(_FIGURES), "thresholds": {"type": "array", "items": _ROW}}
        return [(rule, {"responses": {**ok(obj(listed, listed)), **errors}})]
    if method == "PUT":
        request_body = body({"allOf": [_SELECTOR, obj(_FIGURES)]})
        responses = {**ok(_ROW), **errors, **error_responses(413, 415)}
        return [(rule, {"responses": responses, "requestBody": request_body})]
    params = [
        {"name": n, "in": "query", "required": False, "schema": _SELECTOR["properties"][n]}
        for n in SELECTOR
    ]
    gone = obj({"deleted": {"type": "boolean"}, "selector": _SELECTOR}, ["deleted"])
    responses = {**ok(gone), **errors, **error_responses(404)}
    return [(rule, {"responses": responses, "parameters": params})]


def _mark_doc(component, method, rule):
    """Document ``/run/<run_id>/distribution-change``."""
    mark = obj({"run_id": {"type": "string"}, "metric": _TEXT, "marked_at": {"type": "string"}})
    responses = {
        **ok(mark, 200, "already marked"),
        **ok(mark, 201, "marked"),
        **error_responses(400, 404, 413, 415, 503),
    }
    request_body = body(obj({"metric": _TEXT}), required=False)
    return [(rule, {"responses": responses, "requestBody": request_body})]


ANALYSIS_ROUTES = DbRoutes(
    _register, (("thresholds", _thresholds_doc), ("distribution_change", _mark_doc))
)
