"""Request helpers shared by every service: strict JSON bodies and a fast JSON provider."""

import orjson
from flask import request
from flask.json.provider import JSONProvider

from unified_api_server.core.errors import ApiError


class OrjsonProvider(JSONProvider):
    """Serialise responses with orjson (times as ISO 8601 with offset)."""

    def dumps(self, obj, **kwargs):
        """Return ``obj`` as JSON text."""
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s, **kwargs):
        """Parse JSON text."""
        return orjson.loads(s)

    def response(self, *args, **kwargs):
        """Build a JSON response without re-encoding through str."""
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(
            orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS), mimetype="application/json"
        )


def json_body(*, required=True, kind=dict):
    """Return the request's JSON body, or raise a 400/415 naming the problem."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        if required:
            raise ApiError(400, "request body required: send a JSON object")
        return kind()
    if request.mimetype and request.mimetype != "application/json":
        raise ApiError(
            415, f"send JSON with Content-Type: application/json, not {request.mimetype}"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, kind):
        raise ApiError(400, f"body must be a JSON {'object' if kind is dict else 'array'}")
    return data


def raw_body(description):
    """Return the request's raw body, or raise a 400 saying ``description`` is required."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, f"request body required: {description}")
    return raw
