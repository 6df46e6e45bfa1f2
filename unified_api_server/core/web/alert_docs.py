"""The OpenAPI operations of the alert routes (``core.web.alerts``), one function a kind."""

from unified_api_server.core.data import alert_queries as queries
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_ops import body, error_responses, obj, ok

_TEXT = {"type": "string", "nullable": True}
_INT = {"type": "integer", "nullable": True}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_SELECTOR = {name: _INT if name == "batch_size" else _TEXT for name in queries.SELECTOR}
ALERT = obj(
    {
        "alert_id": {"type": "string"},
        "kind": {"type": "string", "enum": list(queries.KINDS)},
        **_SELECTOR,
        "item_id": _TEXT,
        "message": {"type": "string"},
        "details": {"type": "object", "nullable": True, "additionalProperties": True},
        "state": {"type": "string", "enum": list(queries.STATES)},
        "suppressed": {"type": "boolean"},
        "raised_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": _TIME,
        "acknowledged_by": _TEXT,
        "resolved_at": _TIME,
        "resolved_by": _TEXT,
        "resolved_item_id": _TEXT,
    },
    ("alert_id", "kind", "message", "state", "raised_at"),
)
SUPPRESSION = obj(
    {
        "suppression_id": {"type": "string"},
        "kind": _TEXT,
        **_SELECTOR,
        "until": {"type": "string", "format": "date-time"},
        "reason": _TEXT,
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": _TEXT,
    },
    ("suppression_id", "until"),
)
_SUPPRESSION_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["until"],
    "properties": {
        **_SELECTOR,
        "kind": {"type": "string", "nullable": True, "enum": [*queries.KINDS, None]},
        "batch_size": {"type": "integer", "nullable": True, "minimum": 1},
        "until": {"type": "string", "format": "date-time", "description": "in the future"},
        "reason": {"type": "string", "nullable": True, "maxLength": 1000},
    },
}
DELIVERY = obj(
    {
        "delivery_id": {"type": "integer"},
        "alert_id": {"type": "string"},
        "action": {"type": "string", "enum": list(queries.ACTIONS)},
        "webhook": {"type": "integer"},
        "url": {"type": "string"},
        "attempt": {"type": "integer"},
        "status_code": _INT,
        "error": _TEXT,
        "attempted_at": {"type": "string", "format": "date-time"},
    },
    ("delivery_id", "alert_id", "action", "webhook", "url", "attempt", "attempted_at"),
)
_NEXT = {"type": "string", "nullable": True}
_PAGE = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (100)"),
    query("cursor", {"type": "string"}, "next_cursor of the previous page"),
]


def _op(responses, *errors, **rest):
    return {"responses": {**responses, **error_responses(400, 503, *errors)}, **rest}


def _listed(key, schema):
    fields = {key: {"type": "array", "items": schema}, "count": {"type": "integer"}}
    return obj({**fields, "limit": {"type": "integer"}, "next_cursor": _NEXT}, list(fields))


def list_parameters():
    """Return the alert list's query parameters (the gateway's merged list takes them too)."""
    many = {"type": "string"}
    return [
        query("state", many, f"comma list of {', '.join(queries.STATES)}"),
        query("kind", many, f"comma list of {', '.join(queries.KINDS)}"),
        query("model_name", many, "comma list of model names"),
        query("since", {"type": "string", "format": "date-time"}, "raised at or after"),
        query("until", {"type": "string", "format": "date-time"}, "raised before"),
    ]


def alerts_doc(component, method, rule):
    """``/alerts``: alerts newest first."""
    params = [*list_parameters(), *_PAGE]
    return [(rule, _op(ok(_listed("alerts", ALERT)), parameters=params))]


def alert_doc(component, method, rule):
    """``/alert/<id>``: one alert."""
    return [(rule, _op(ok(ALERT), 404))]


def transition_doc(component, method, rule):
    """``/alert/<id>/acknowledge|resolve``: change an alert's state."""
    return [(rule, _op(ok(ALERT, description="the alert in its new state"), 404, 409))]


def deliveries_doc(component, method, rule):
    """``/alerts/deliveries``: webhook delivery attempts."""
    params = [query("alert_id", {"type": "string"}, "one alert's attempts"), *_PAGE]
    return [(rule, _op(ok(_listed("deliveries", DELIVERY)), parameters=params))]


def suppressions_doc(component, method, rule):
    """``/suppressions``: list or add."""
    if method == "POST":
        created = ok(SUPPRESSION, 201, "created", location=True)
        return [(rule, _op(created, 413, 415, requestBody=body(_SUPPRESSION_IN)))]
    listed = obj({"suppressions": {"type": "array", "items": SUPPRESSION}, "count": _INT})
    flag = query("include_expired", {"type": "boolean"}, "also the expired ones")
    return [(rule, _op(ok(listed), parameters=[flag]))]


def suppression_doc(component, method, rule):
    """``/suppression/<id>``: delete one."""
    deleted = obj({"deleted": {"type": "boolean"}, "suppression_id": {"type": "string"}})
    return [(rule, _op(ok(deleted), 404))]


OPERATIONS = (
    ("alerts", alerts_doc),
    ("alert", alert_doc),
    ("alert_acknowledge", transition_doc),
    ("alert_resolve", transition_doc),
    ("alert_deliveries", deliveries_doc),
    ("alert_suppressions", suppressions_doc),
    ("alert_suppression", suppression_doc),
)
