"""The PostgreSQL side of ``storage = ducklake``: the write lock, the compaction lock and the
change channel of one catalog database, over psycopg sessions of this process."""

import logging
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Advisory lock keys: locks are per database, and each component has its own catalog database.
WRITE_LOCK = 0x55415357  # "UASW": one write transaction at a time, across every process
COMPACT_LOCK = 0x55415343  # "UASC": one compaction at a time
OWNER_LOCKS = 0x55415350  # "UASP", with a process's name: held while that process lives
CHANNEL = "uas_changes"
PAYLOAD_LIMIT = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more


class LakeError(RuntimeError):
    """The DuckLake storage is misconfigured or out of reach; the message says how."""


def catalog_name(url):
    """Return the catalog database's name in ``url`` (never its credentials)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{parts.path.lstrip('/')}"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise LakeError(
            "storage = ducklake needs psycopg: pip install 'unified-api-server[lake]'"
        ) from None
    return psycopg


def shorten(text):
    """Return an event's JSON text small enough for one NOTIFY (long row lists left out)."""
    if len(text.encode()) <= PAYLOAD_LIMIT:
        return text
    import orjson

    fields = orjson.loads(text)
    for bulky in ("rows", "changes", "alert", "model_names", "statuses", "batch_ids"):
        fields.pop(bulky, None)
    fields["truncated"] = True
    return orjson.dumps(fields).decode()[:PAYLOAD_LIMIT]


class Catalog:
    """This process's sessions with the catalog database: one for locks and NOTIFY, one that
    LISTENs."""

    def __init__(self, url, lock_timeout=30.0):
        self.url = url
        self.lock_timeout = lock_timeout
        # One session holds the locks, another sends events: a write waiting for the lock
        # never holds back the events of writes already committed.
        self._sessions = {"lock": None, "notify": None}
        self._locks = {"lock": threading.Lock(), "notify": threading.Lock()}
        self._listening = None

    def _connect(self):
        psycopg = _psycopg()
        try:
            session = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise LakeError(f"cannot reach the catalog {catalog_name(self.url)}: {exc}") from None
        session.execute(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
        return session

    def _run(self, sql, params=(), role="lock"):
        """Run ``sql`` on the ``role`` session, once more on a fresh one if it was lost."""
        psycopg = _psycopg()
        with self._locks[role]:
            for attempt in (1, 2):
                session = self._sessions[role]
                if session is None or session.closed:
                    session = self._sessions[role] = self._connect()
                try:
                    return session.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    self._sessions[role] = None
                    if attempt == 2:
                        raise

    def ping(self):
        """Raise :class:`LakeError` when the catalog database does not answer."""
        self._run("SELECT 1")

    @contextmanager
    def write_lock(self):
        """Hold the catalog's write lock; a wait past ``lock_timeout`` is a clear error."""
        psycopg = _psycopg()
        try:
            self._run("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise LakeError(
                f"another process held the write lock of {catalog_name(self.url)} for more "
                f"than {self.lock_timeout:g} s; nothing was written"
            ) from None
        try:
            yield
        finally:
            try:
                self._run("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
            except psycopg.OperationalError:  # the session is gone, and its lock with it
                log.warning("lost the catalog session while holding its write lock")

    def hold_owner(self, owner):
        """Hold ``owner``'s liveness lock for as long as this process's session lives."""
        self._run("SELECT pg_advisory_lock(%s::int, hashtext(%s))", (OWNER_LOCKS, owner))

    def owner_alive(self, owner):
        """Tell whether a live session holds ``owner``'s liveness lock."""
        taken = self._run(
            "SELECT pg_try_advisory_lock(%s::int, hashtext(%s))", (OWNER_LOCKS, owner)
        )
        if taken[0][0]:
            self._run("SELECT pg_advisory_unlock(%s::int, hashtext(%s))", (OWNER_LOCKS, owner))
        return not taken[0][0]

    def try_lock_compaction(self):
        """Take the compaction lock if free; return whether it was taken."""
        return self._run("SELECT pg_try_advisory_lock(%s)", (COMPACT_LOCK,))[0][0]

    def unlock_compaction(self):
        """Release the compaction lock."""
        self._run("SELECT pg_advisory_unlock(%s)", (COMPACT_LOCK,))

    def notify(self, payload):
        """Send ``payload`` to every process listening on the catalog's channel."""
        try:
            self._run("SELECT pg_notify(%s, %s)", (CHANNEL, shorten(payload)), "notify")
        except Exception:  # the write is committed; a lost event must not fail it
            log.exception("could not send a change event to the other processes")

    def listen(self, receive, stop):
        """Call ``receive(payload)`` for each notification on the channel until ``stop``."""

        def loop():
            psycopg = _psycopg()
            while not stop.is_set():
                try:
                    session = self._connect()
                    self._listening = session
                    session.execute(f"LISTEN {CHANNEL}")
                    while not stop.is_set():
                        for note in session.notifies(timeout=1.0):
                            receive(note.payload)
                except (psycopg.Error, LakeError) as exc:
                    if not stop.is_set():
                        log.warning("change channel lost (%s); listening again in 1 s", exc)
                        stop.wait(1.0)
                finally:
                    if self._listening is not None:
                        self._listening.close()
                        self._listening = None

        threading.Thread(target=loop, name="ducklake-changes", daemon=True).start()

    def close(self):
        """Close this process's sessions (the listener ends within a second)."""
        for role, lock in self._locks.items():
            with lock:
                if self._sessions[role] is not None:
                    self._sessions[role].close()
                    self._sessions[role] = None
