"""The cross-component views' cache: dropped by the components' change streams, never stale.

Each gateway worker keeps every component's change stream open for as long as it lives (the
same upstream socket ``/api/db/ws`` clients share, see :mod:`.changefeed`). Any message on a
component's stream, and its loss or return, moves that component's generation on (a Redis
``INCR`` when ``cache_url`` is set, so every worker and gateway moves together), and the views'
entries are keyed by every component's generation. While a worker's stream of a component is
down, writes may go unheard: the cache is bypassed (``X-Cache: bypass``) until it is back, and
its return moves the generation on again, for what was written meanwhile. A generation that
could not be moved on (Redis unavailable) keeps the cache bypassed until it can.

The answers do not differ by caller: the views call the components with the gateway's own
credential, never the caller's key, so a caller's scope is not part of the key.
"""

import logging
import threading

import orjson
from flask import current_app

from unified_api_server.core import cache
from unified_api_server.core.cache import CacheUnavailable
from unified_api_server.gateway.changefeed import feed_for
from unified_api_server.registry import NAMES

log = logging.getLogger(__name__)


class _Invalidator:
    """A permanent subscriber of one component's feed: every message moves its generation."""

    def __init__(self, watch, name):
        self.watch = watch
        self.name = name

    def offer(self, _event):
        """A change: drop the component's entries."""
        self.watch.changed(self.name)

    def push(self, _event):
        """The stream was lost or is back: drop them too."""
        self.watch.changed(self.name)


class StreamWatch:
    """Tells whether this worker hears every component's changes, and drops entries on each."""

    def __init__(self, upstreams, store):
        self.upstreams = upstreams
        self.store = store
        self.unsure = set()  # components whose generation could not be moved on
        self.ready = set()  # components whose stream this worker joined
        self._started = False
        self._lock = threading.Lock()

    def start(self):
        """Join every component's change stream, once per worker, in the background."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for name in NAMES:  # a component down answers later; the cache waits for nobody
            threading.Thread(target=self._join, args=(name,), daemon=True).start()

    def _join(self, name):
        feed_for(self.upstreams[name]).join_even_if_down(_Invalidator(self, name))
        # Whatever was written before the stream opened went unheard (a shared store may hold
        # entries from before this worker): a new generation, and only then the cache.
        self.changed(name)
        self.ready.add(name)

    def changed(self, name):
        """Move ``name``'s generation on; if the store cannot, bypass the cache until it can."""
        try:
            self.store.bump(name)
        except CacheUnavailable:
            self.unsure.add(name)

    def fresh(self, scopes):
        """Tell whether the cache may be used for ``scopes`` now: their streams are all open."""
        self.start()
        for name in list(self.unsure):
            try:
                self.store.bump(name)
            except CacheUnavailable:
                return False
            self.unsure.discard(name)
        for name in scopes:
            feed = feed_for(self.upstreams[name])
            if name not in self.ready or feed.client is None or feed.down_reason is not None:
                return False
        return True


def _complete(response):
    """Keep only answers every component gave: a partial one would outlive the fault."""
    return orjson.loads(response.get_data()).get("completed") is True


def cached_view(name):
    """Decorate a cross-component view: cached until any component's data changes."""
    return cache.cached(f"gateway.{name}", keep=_complete)


def init_app(app, state):
    """Give the gateway's JSON reads ETags and its views the cache ``state.settings`` ask for."""
    response_cache = cache.init_app(app, state.settings, scopes=NAMES)
    if response_cache is not None:
        watch = StreamWatch(state.upstreams, response_cache.store)
        response_cache.fresh = watch.fresh
        app.extensions["gateway_cache_watch"] = watch
    return response_cache


def watch_of(app=None):
    """Return the app's :class:`StreamWatch`, or None when caching is off."""
    return (app or current_app).extensions.get("gateway_cache_watch")
