"""Every component's alert routes under ``/api/<name>/db``: alerts, their lifecycle,
suppressions and webhook deliveries. The SQL is in ``core.data.alerts`` and ``alert_queries``.
"""

from datetime import UTC, datetime

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from unified_api_server.core.component import DbRoutes
from unified_api_server.core.data import alert_queries as queries
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web import alert_docs
from unified_api_server.core.web.args import parse_bool, parse_limit, parse_time
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.resources import answer, cursor, state

DEFAULT_LIMIT = 100
LIST_PARAMS = ("state", "kind", "model_name", "since", "until", "limit", "cursor")
CHOICES = {"state": queries.STATES, "kind": queries.KINDS}


class SuppressionSchema(Schema):
    """A suppression: a selector (any part may be left out: any) and when it expires."""

    class Meta:
        """Unknown fields are an error."""

        unknown = RAISE

    kind = fields.String(allow_none=True, validate=validate.OneOf(queries.KINDS))
    model_name = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    hardware = fields.String(allow_none=True, validate=validate.Length(min=1, max=512))
    batch_size = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    precision = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    test_type = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    metric = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    test_name = fields.String(allow_none=True, validate=validate.Length(min=1, max=512))
    until = fields.AwareDateTime(required=True, default_timezone=UTC)
    reason = fields.String(allow_none=True, validate=validate.Length(max=1000))

    @validates("until")
    def _in_future(self, value, **_kwargs):
        if value <= datetime.now(UTC):
            raise ValidationError("must be in the future")


def _values(name):
    values = [v for raw in request.args.getlist(name) for v in raw.split(",") if v]
    allowed = CHOICES.get(name)
    wrong = [v for v in values if allowed and v not in allowed]
    if wrong:
        raise ApiError(400, f"{name}: must be one of {', '.join(allowed)}, got {wrong[0]!r}")
    return values


def _check_params(allowed):
    unknown = sorted(set(request.args) - set(allowed) - {"api_key"})
    if unknown:
        raise ApiError(
            400, f"unknown query parameter(s): {', '.join(unknown)}", {"allowed": list(allowed)}
        )


def _time(name):
    value = request.args.get(name)
    return None if value in (None, "") else parse_time(value, name)


def _by():
    """Return who acts: the key name the gateway states, or None (a direct call)."""
    return request.headers.get("X-API-Key-Name") or None


def alerts():
    """List alerts newest first, filtered by state, kind, model and time raised."""
    _check_params(LIST_PARAMS)
    filters = {name: _values(name) for name in ("state", "kind", "model_name")}
    filters.update(since=_time("since"), until=_time("until"))
    limit = parse_limit(request.args.get("limit"), DEFAULT_LIMIT)
    found, following = queries.list_alerts(cursor(), filters, limit, request.args.get("cursor"))
    return answer({"alerts": found, "count": len(found), "limit": limit, "next_cursor": following})


def alert(alert_id):
    """Return one alert."""
    found = queries.get_alert(cursor(), alert_id)
    if found is None:
        raise ApiError(404, f"alert {alert_id!r} not found")
    return answer(found)


def acknowledge(alert_id):
    """Acknowledge an active alert (409 in any other state)."""
    return answer(state().alerts.transition(alert_id, "acknowledge", _by()))


def resolve(alert_id):
    """Resolve an open alert by hand (409 when it is resolved already)."""
    return answer(state().alerts.transition(alert_id, "resolve", _by()))


def deliveries():
    """List webhook delivery attempts oldest first, of one alert (``alert_id``) or all."""
    _check_params(("alert_id", "limit", "cursor"))
    limit = parse_limit(request.args.get("limit"), DEFAULT_LIMIT)
    found, following = queries.list_deliveries(
        cursor(), request.args.get("alert_id"), limit, request.args.get("cursor")
    )
    return answer(
        {"deliveries": found, "count": len(found), "limit": limit, "next_cursor": following}
    )


def suppressions():
    """List the suppressions in force (``include_expired=true``: all), or add one."""
    if request.method == "POST":
        data = SuppressionSchema().load(json_body())
        until, reason = data.pop("until"), data.pop("reason", None)
        made = state().alerts.suppress(data, until, reason, _by())
        location = f"/api/{state().component.name}/db/suppression/{made['suppression_id']}"
        return answer(made, 201, location)
    _check_params(("include_expired",))
    expired = parse_bool(request.args.get("include_expired"), "include_expired")
    found = queries.list_suppressions(cursor(), expired)
    return answer({"suppressions": found, "count": len(found)})


def suppression(suppression_id):
    """Delete a suppression: alerts it would have matched are pushed again."""
    state().alerts.unsuppress(suppression_id)
    return answer({"deleted": True, "suppression_id": suppression_id})


def register(bp, component):
    """Add the alert routes to ``component``'s database blueprint."""
    name = component.name
    rules = (
        ("/alerts", "alerts", alerts, ["GET"]),
        ("/alerts/deliveries", "alert_deliveries", deliveries, ["GET"]),
        ("/alert/<alert_id>", "alert", alert, ["GET"]),
        ("/alert/<alert_id>/acknowledge", "alert_acknowledge", acknowledge, ["POST"]),
        ("/alert/<alert_id>/resolve", "alert_resolve", resolve, ["POST"]),
        ("/suppressions", "alert_suppressions", suppressions, ["GET", "POST"]),
        ("/suppression/<suppression_id>", "alert_suppression", suppression, ["DELETE"]),
    )
    for rule, kind, view, methods in rules:
        bp.add_url_rule(rule, f"{name}_{kind}", view, methods=methods)


ROUTES = DbRoutes(register, alert_docs.OPERATIONS)
