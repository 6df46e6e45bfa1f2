"""Cached JSON answers, kept until the data they were read from changes, and ETags on reads.

An entry's key holds the view's name, the method, the path, the normalised query string (and a
POST's body), and the *generation* of every component the answer read. A component's generation
moves on with each committed write (its change feed), so a write makes every older entry
unreachable at once, without finding or deleting them; the size bound and a TTL evict them.
In-process (:class:`MemoryStore`, per worker, least recently used first) by default, or in Redis
(:class:`RedisStore`, shared by every worker and gateway: generations are ``INCR`` counters).

A view opts in with :func:`cached`; :func:`revalidate` gives every other JSON read an ETag.
Answers carry ``ETag`` (a strong hash of the body), ``Cache-Control: private, no-cache`` (a
client revalidates each time) and, for cached views, ``X-Cache: hit|miss|bypass``; a GET whose
``If-None-Match`` names the current ETag is answered 304 without a body.
"""

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict

import orjson
from flask import Response, current_app, request
from werkzeug.http import http_date

from unified_api_server.core import metrics
from unified_api_server.core.settings import Setting

log = logging.getLogger(__name__)

CACHE_TTL = Setting(
    "cache_ttl",
    float,
    300.0,
    "seconds a cached answer is kept at most (a safety net: a write drops it at once); "
    "0 turns the cache off",
    minimum=0,
)
CACHE_MAX_MB = Setting(
    "cache_max_mb", int, 64, "memory the in-process cache holds per worker (MiB)", minimum=1
)
CACHE_URL = Setting(
    "cache_url",
    str,
    "",
    "redis://HOST:6379/0 to share cached answers across workers and gateways; "
    "empty: in-process, per worker",
    secret=True,  # a Redis URL may carry a password
)
CACHE_CONTROL = "private, no-cache"
_KEY_PREFIX = "uas:cache:"
_GENERATION_PREFIX = "uas:gen:"


class CacheUnavailable(Exception):
    """The shared store did not answer: the request is served without the cache."""


class CacheStats:
    """Hits, misses and bypasses per cached view: the one place they are counted (and given to
    the Prometheus counters, where a bypass is a miss: the cache did not serve it)."""

    OUTCOMES = ("hit", "miss", "bypass")

    def __init__(self):
        self._counts = {}
        self._lock = threading.Lock()

    def count(self, name, outcome):
        """Count one answer of view ``name``: ``hit``, ``miss`` or ``bypass``."""
        with self._lock:
            key = (name, outcome)
            self._counts[key] = self._counts.get(key, 0) + 1
        if outcome == "hit":
            metrics.cache_hit(name)
        else:
            metrics.cache_miss(name)

    def snapshot(self):
        """Return ``{name: {outcome: count}}`` of this process."""
        with self._lock:
            counts = dict(self._counts)
        found = {}
        for (name, outcome), value in counts.items():
            found.setdefault(name, dict.fromkeys(self.OUTCOMES, 0))[outcome] = value
        return found


class MemoryStore:
    """Entries in this process, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes, ttl):
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.size = 0
        self._entries = OrderedDict()  # key -> (expires, value)
        self._generations = {}
        self._lock = threading.Lock()

    def get(self, key):
        """Return the value stored under ``key``, or None when absent or expired."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key, value):
        """Store ``value`` under ``key``; one larger than an eighth of the bound is not kept."""
        cost = len(key) + len(value)
        if cost > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self.size += cost
            while self.size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key):
        _, value = self._entries.pop(key)
        self.size -= len(key) + len(value)

    def generations(self, scopes):
        """Return the current generation of each scope (a component name)."""
        return tuple(self._generations.get(scope, 0) for scope in scopes)

    def bump(self, scope):
        """Move ``scope`` to a new generation: its older entries are never read again."""
        with self._lock:
            self._generations[scope] = self._generations.get(scope, 0) + 1


class RedisStore:
    """Entries and generations in Redis, shared by every worker and gateway using ``url``."""

    def __init__(self, url, ttl):
        import redis  # only a gateway given a cache_url needs the client

        self._errors = (redis.RedisError, OSError)
        self.ttl = max(1, round(ttl))
        # Short timeouts: a stalled Redis must cost a request milliseconds, not seconds.
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._failing = False

    def _call(self, action, *args):
        try:
            result = action(*args)
        except self._errors as exc:
            if not self._failing:
                log.warning("the cache's Redis is unavailable: %s", type(exc).__name__)
            self._failing = True
            raise CacheUnavailable(str(exc)) from None
        if self._failing:
            log.warning("the cache's Redis answers again")
            self._failing = False
        return result

    def get(self, key):
        """Return the value stored under ``key``, or None."""
        return self._call(self._redis.get, _KEY_PREFIX + key)

    def put(self, key, value):
        """Store ``value`` under ``key`` for the TTL."""
        self._call(functools.partial(self._redis.set, ex=self.ttl), _KEY_PREFIX + key, value)

    def generations(self, scopes):
        """Return the current generation of each scope, read in one round trip."""
        values = self._call(self._redis.mget, [_GENERATION_PREFIX + s for s in scopes])
        return tuple(int(value or 0) for value in values)

    def bump(self, scope):
        """Move ``scope`` to a new generation, for every worker and gateway at once."""
        self._call(self._redis.incr, _GENERATION_PREFIX + scope)


def open_store(settings):
    """Return the store ``settings`` name: Redis for a ``cache_url``, else in-process."""
    if settings.get("cache_url"):
        return RedisStore(settings["cache_url"], settings["cache_ttl"])
    return MemoryStore(settings["cache_max_mb"] * 1024 * 1024, settings["cache_ttl"])


def body_etag(body):
    """Return the strong ETag (unquoted) of a response body."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def normalized_query(args):
    """Return the query string in a canonical order: by name, each name's values in order."""
    pairs = [(name, value) for name in sorted(args) for value in args.getlist(name)]
    return orjson.dumps(pairs).decode()


def _request_key(name, generations):
    """Return the key of the current request's answer, read at ``generations``."""
    method = "GET" if request.method == "HEAD" else request.method
    parts = [name, method, request.path, normalized_query(request.args), generations]
    variant = request.environ.get("uas.cache_variant")
    if variant:  # an answer that differs by caller (the components it may see)
        parts.append(variant)
    if request.method == "POST":  # a search's JSON body is part of its question
        parts.append(body_etag(request.get_data(cache=True)))
    return body_etag(orjson.dumps(parts))


# Request headers that make an answer conditional (304, 412) or partial.
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE")


def _finish(response, outcome=None):
    """Add the ETag (kept when set), Cache-Control and X-Cache; answer 304 when it matches."""
    headers = response.headers
    if "ETag" not in headers:
        response.set_etag(body_etag(response.get_data()))
    headers["Cache-Control"] = CACHE_CONTROL
    if outcome is not None:
        headers["X-Cache"] = outcome
    environ = request.environ
    if any(name in environ for name in _CONDITIONAL):
        return response.make_conditional(request)
    # Nothing to compare: add only what make_conditional would (it parses every conditional
    # header, absent or not, on every read).
    if "Date" not in headers and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        headers["Date"] = http_date()
    return response


class ResponseCache:
    """Serves cached views from a store, keyed by request and the generations of their data.

    ``generations(scopes)`` defaults to the store's; ``fresh(scopes)`` says whether the cache
    may be used now (a gateway whose change stream of a component is down may not).
    """

    def __init__(self, store, generations=None, fresh=None, scopes=()):
        self.store = store
        self.generations = generations or store.generations
        self.fresh = fresh or (lambda scopes: True)
        self.scopes = tuple(scopes)
        self.stats = CacheStats()

    def answer(self, name, view, keep=None):
        """Return the cached answer of the current request, or ``view()``'s, kept if it may be."""
        found = key = None
        try:
            # The generations are read BEFORE the data: a write meanwhile moves them on, and
            # what this request then reads is stored under a key nobody asks for again.
            key = _request_key(name, self.generations(self.scopes))
            usable = self.fresh(self.scopes)
            found = self.store.get(key) if usable else None
        except CacheUnavailable:
            usable = False
        if found is not None:
            self.stats.count(name, "hit")
            head, _, body = found.partition(b"\n")
            etag, _, mimetype = head.decode().partition(" ")
            response = Response(body, mimetype=mimetype or "application/json")
            response.set_etag(etag)
            return _finish(response, "hit")
        response = current_app.make_response(view())
        outcome = "miss" if usable else "bypass"
        self.stats.count(name, outcome)
        if usable and response.status_code == 200 and (keep is None or keep(response)):
            body = response.get_data()
            etag = body_etag(body)
            response.set_etag(etag)
            # An entry is "ETAG\nBODY", or "ETAG MIMETYPE\nBODY" for what is not JSON (a chart's
            # image): an ETag is hex, so the first space ends it.
            mimetype = "" if response.mimetype == "application/json" else f" {response.mimetype}"
            try:
                self.store.put(key, f"{etag}{mimetype}".encode() + b"\n" + body)
            except CacheUnavailable:
                pass
        return _finish(response, outcome)


def cached(name, keep=None):
    """Decorate a view (JSON, or an image): answer from the app's response cache when it holds it.

    ``keep(response)`` says whether an answer may be cached (a partial one may not).
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            cache = current_app.extensions.get("response_cache")
            if cache is None:  # caching is off: still an ETag
                return _finish(current_app.make_response(view(*args, **kwargs)))
            return cache.answer(name, lambda: view(*args, **kwargs), keep)

        return wrapper

    return decorate


def revalidate(response):
    """``after_request``: give a JSON read under ``/api/`` an ETag, and 304 when it matches."""
    if (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and response.mimetype == "application/json"
        and not response.is_streamed
        and "ETag" not in response.headers
        and request.path.startswith("/api/")
    ):
        return _finish(response)
    return response


def init_app(app, settings, generations=None, fresh=None, scopes=()):
    """Give ``app``'s JSON reads ETags and, unless ``cache_ttl`` is 0, a response cache."""
    app.after_request(revalidate)
    if settings["cache_ttl"] > 0:
        store = open_store(settings)
        app.extensions["response_cache"] = ResponseCache(store, generations, fresh, scopes)
    return app.extensions.get("response_cache")
