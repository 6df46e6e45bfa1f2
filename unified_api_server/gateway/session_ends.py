"""Sessions ended before their expiry: signing out ends the token itself, on every gateway.

A session token is valid until its ``exp`` while its key stays usable (:mod:`.sessions`); a
copied cookie or a Bearer token kept by a script would outlive a sign-out that only cleared the
browser's cookie. Signing out therefore records the token's ``jti`` in the key store's
``ended_sessions`` table (SQLite or PostgreSQL, so gateways sharing a store share it too), with
the token's own expiry, after which the row is pruned: the table holds only the sign-outs of
sessions that would still be valid, a few hundred at most.

Each process reads that whole set again at most every ``ttl`` seconds (the key cache's time,
2 s by default), only while session tokens are in use, so checking a token is a set lookup and
an ended session stops working everywhere within ``ttl`` seconds; in the signing-out process at
once.
"""

import logging
import time

from unified_api_server.gateway.keys import KeyStoreUnavailable

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ended_sessions"
    " (jti TEXT PRIMARY KEY, key_name TEXT NOT NULL, expires_at BIGINT NOT NULL)"
)


class EndedSessions:
    """The ``jti`` of every signed-out session that has not yet expired, kept in ``db``."""

    def __init__(self, db, ttl):
        self.db = db
        self.ttl = ttl
        self._ended = frozenset()
        self._read_at = None  # monotonic time of the last read; None: read before the next check
        self._ready = False

    def _connection(self):
        if not self._ready:
            with self.db.transaction("schema") as connection:
                connection.execute(self.db.schema(_SCHEMA))
            self._ready = True
        return self.db.connection()

    def end(self, claims):
        """End the session with the verified ``claims``, on every gateway of the store."""
        now = int(time.time())
        try:
            with self._connection() as connection:
                connection.execute(
                    "INSERT INTO ended_sessions (jti, key_name, expires_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (jti) DO NOTHING",
                    (claims["jti"], claims["sub"], int(claims["exp"])),
                )
                connection.execute("DELETE FROM ended_sessions WHERE expires_at < ?", (now,))
        except self.db.errors as exc:
            log.warning("could not record a sign-out in the key store: %s", exc)
            raise KeyStoreUnavailable() from None
        self._read_at = None

    def is_ended(self, jti):
        """Tell whether the session ``jti`` was signed out (as of at most ``ttl`` seconds ago)."""
        now_mono = time.monotonic()
        if self._read_at is None or now_mono - self._read_at >= self.ttl:
            try:
                with self._connection() as connection:
                    rows = connection.execute(
                        "SELECT jti FROM ended_sessions WHERE expires_at >= ?",
                        (int(time.time()),),
                    ).fetchall()
            except self.db.errors as exc:
                log.warning("key store unavailable: %s", exc)
                raise KeyStoreUnavailable() from None
            self._ended = frozenset(row[0] for row in rows)
            self._read_at = now_mono
        return jti in self._ended
