"""nginx ``auth_request`` contract (``GET /auth/check``)

nginx sends a subrequest to ``/auth/check`` carrying the client's key headers (``X-API-Key`` or
``Authorization``) and two headers naming the original request::

    location = /_auth {
        internal;
        proxy_pass http://gateway/auth/check;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Original-URI $request_uri;   # raw URI, with the query string
    }

The answer is the same decision the gateway makes for its own forwarding, from the same request
headers: a key (``X-API-Key``, ``Authorization: Bearer``), a session token as Bearer, or the
browser's session cookie with its checks (``X-CSRF-Token`` on unsafe methods, ``Origin`` on
WebSocket openings); nginx passes the client's headers to the subrequest unchanged:

* ``204`` allowed; headers ``X-API-Key-Name`` and ``X-API-Key-Scopes`` name the key
  (``auth_request_set $key_name $upstream_http_x_api_key_name;``);
* ``401`` no, unknown, revoked or expired key (with ``WWW-Authenticate: ApiKey``);
* ``403`` the key lacks the scope (named in ``X-Missing-Scope``, e.g. ``benchmark:write``, for
  nginx's own 403 answer), the session cookie's CSRF or origin check failed, or the URI is not
  canonical (``//``, ``.``/``..`` segments or
  an encoded ``/``): nginx passes the raw URI to the component, so only URIs whose meaning
  cannot change are authorised that way; the gateway itself accepts them because it forwards the
  normalised path;
* ``403`` also when the URI cannot be used at all (control characters, invalid UTF-8, not a path),
  which the gateway's own forwarding answers with 400: nginx would turn a 400 into a 500;
* ``403`` with ``X-RateLimit-Refused: 1`` and ``Retry-After`` when the key is over its rate
  limit, which nginx answers as 429 (an ``auth_request`` may answer only 2xx, 401 or 403); the
  ``RateLimit-*`` headers come with every answer for a key, for nginx to pass on;
* ``400`` when ``X-Original-URI`` is missing (a configuration error; nginx turns it into 500).

nginx may proxy ``/api/{test|generator|benchmark}/...`` to the component unchanged after a 204, and
``/api/db/{component}/{path}`` after rewriting it to ``/api/{component}/db/{path}``; everything else
(``/``, ``/health``, ``/api/db/overview``, ``/api/db/model/...``, ``/api/db/search``) goes to the
gateway. A decision may be cached briefly (keyed on the key header, method and URI); revocation
is promised within 5 s, so keep such a cache at 2 s or less.
"""

from unified_api_server.gateway.answers import deny, json_error
from unified_api_server.gateway.routing import decide


def auth_check(middleware, environ, start_response, headers, request_id):
    """Answer nginx ``auth_request``: 204, 401 or 403 for X-Original-Method/-URI.

    A key over its rate gets 403 with ``X-RateLimit-Refused: 1`` (nginx knows only 2xx, 401
    and 403 here), which nginx answers as 429; the ``RateLimit-*`` headers come with both.
    """
    original = environ.get("HTTP_X_ORIGINAL_URI")
    if not original:
        return json_error(start_response, 400, "X-Original-URI header is required", request_id)
    original_method = environ.get("HTTP_X_ORIGINAL_METHOD", "GET")
    store = middleware.state.store
    decision = decide(original_method, original, headers, store, require_canonical=True)
    if decision.key is not None:
        environ["uas.key_name"] = decision.key.name  # for the request's log line
    if decision.status != 200:
        return deny(start_response, decision, request_id)
    refusal, limit_headers = middleware.rate_limit(decision)
    if refusal is not None:
        refused = (("X-RateLimit-Refused", "1"), *limit_headers)
        return json_error(start_response, 403, refusal, request_id, None, refused)
    response_headers = [("X-Request-ID", request_id), *limit_headers]
    if decision.key is not None:
        response_headers.append(("X-API-Key-Name", decision.key.name))
        response_headers.append(("X-API-Key-Scopes", ",".join(decision.key.effective)))
    start_response("204 No Content", response_headers)
    return []
