"""What the pages show, gathered from the components through the gateway's own upstream pools.

Every page asks the components it needs at once (:func:`~unified_api_server.gateway.fanout.fan_out`,
within ``view_budget``), with the gateway's internal credential, exactly as the JSON views do. A
component the signed-in identity may not read is never asked: the page says it was left out.

Database reads are kept in the gateway's response cache (:mod:`.viewcache`), each under the
generation of its component: a write moves that component's generation on, so an open page's
refresh after a write reads that component afresh and takes the others' answers from the cache.
"""

from urllib.parse import quote, urlencode

import orjson
from flask import current_app, request

from unified_api_server.core.cache import CacheUnavailable, body_etag
from unified_api_server.gateway.fanout import Outcome, component_call, fan_out
from unified_api_server.gateway.views import extract_list
from unified_api_server.registry import BY_NAME, COMPONENTS, NAMES

OPEN_STATES = "active,acknowledged,suppressed"


def _state():
    return current_app.extensions["gateway"]


def budget():
    """Return the time budget of one component call (the views' ``view_budget``)."""
    return _state().settings["view_budget"]


def fetch(calls, key_name=None):
    """Ask components at once: ``{key: (component, path_qs[, method, payload])}`` -> Outcomes.

    ``key_name`` makes the calls on that key's behalf (writes; never cached).
    """
    if key_name is not None:
        return _fan_out(calls, key_name)
    cache = current_app.extensions.get("response_cache")
    keys = _cache_keys(cache, calls)  # the generations are read before the data
    found = {}
    for name, key in keys.items():
        try:
            entry = cache.store.get(key)
        except CacheUnavailable:
            break
        if entry is not None:
            status, body = orjson.loads(entry)
            found[name] = Outcome(True, status, 0.0, None, body)
    asked = _fan_out({k: v for k, v in calls.items() if k not in found})
    for name, outcome in asked.items():
        if name in keys and outcome.ok:
            try:
                cache.store.put(keys[name], orjson.dumps([outcome.status_code, outcome.body]))
            except CacheUnavailable:
                break
    return {**found, **asked}


def _fresh():
    """Return the components this request must read afresh (``?fresh=test,benchmark`` or ``*``).

    A live refresh names the components its events came from, and the page after a form's write
    the one it wrote to: another worker's cache may not have heard of the change yet.
    """
    named = set(request.args.get("fresh", "").split(","))
    return set(NAMES) if "*" in named else named


def _cache_keys(cache, calls):
    """Return ``{key: cache key}`` of the database reads among ``calls`` that may use the cache."""
    if cache is None:
        return {}
    fresh = _fresh()
    reads = {
        k: v
        for k, v in calls.items()
        if len(v) == 2 and v[1].startswith(f"/api/{v[0]}/db/") and v[0] not in fresh
    }
    components = sorted({component for component, _ in reads.values()})
    try:
        if not components or not cache.fresh(components):
            return {}
        generations = dict(zip(components, cache.generations(components)))
    except CacheUnavailable:
        return {}
    return {
        k: body_etag(orjson.dumps(["ui", c, path, generations[c]]))
        for k, (c, path) in reads.items()
    }


def _fan_out(calls, key_name=None):
    """Make ``calls`` at once, on ``key_name``'s behalf when given."""
    if not calls:
        return {}
    limit = budget()
    return fan_out(
        {
            key: component_call(spec[0], spec[1], limit, *spec[2:], key_name=key_name)
            for key, spec in calls.items()
        },
        limit,
    )


def readable(identity):
    """Split the components into those ``identity`` may read and the names of the others."""
    shown = [c for c in COMPONENTS if identity.allows(c.name, "read")]
    hidden = [c.name for c in COMPONENTS if not identity.allows(c.name, "read")]
    return shown, hidden


def writable(identity):
    """Return the names of the components ``identity`` may write to."""
    return [c.name for c in COMPONENTS if identity.allows(c.name, "write")]


def body_of(outcome, *keys):
    """Return an outcome's list under ``keys`` (empty when the call failed)."""
    return extract_list(outcome.body, *keys) if outcome.ok else []


def problem(outcome):
    """Return why a call failed, for the page to say, or None."""
    return None if outcome.ok else (outcome.error or "no answer")


def db(component, route, **query):
    """Return a component database path with ``query`` (``None`` values left out)."""
    pairs = [(k, v) for k, v in query.items() if v not in (None, "")]
    qs = f"?{urlencode(pairs)}" if pairs else ""
    return f"/api/{component}/db/{route}{qs}"


def alerts_calls(components, **query):
    """Return the calls asking each component in ``components`` for its alerts."""
    return {f"{c.name}.alerts": (c.name, db(c.name, "alerts", **query)) for c in components}


def merged_alerts(outcomes, components):
    """Merge every component's alerts from ``outcomes``, newest first, each naming its component."""
    merged = []
    for c in components:
        found = outcomes[f"{c.name}.alerts"]
        merged += [{"component": c.name, **a} for a in body_of(found, "alerts")]
    merged.sort(key=lambda a: (a.get("raised_at") or "", a.get("alert_id") or ""), reverse=True)
    return merged


def part(value):
    """Return ``value`` escaped as one path segment: an id never adds segments or a query."""
    return quote(str(value), safe="")


def item_path(component, item_id):
    """Return the database path of one item of ``component`` (``run/{id}``, ``task/{id}``)."""
    return db(component, f"{BY_NAME[component].entity}/{part(item_id)}")
