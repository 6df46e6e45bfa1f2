"""One thread calling back at the soonest of the times it was given (a suppression's expiry).

:meth:`Timer.schedule` keeps the soonest time asked for; when it comes, the thread calls
``fire()`` once, which schedules the next time itself. The thread starts with the first time
asked for and is a daemon: a process with nothing scheduled never runs it.
"""

import logging
import threading
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)
RETRY = timedelta(seconds=5)  # after a call that failed (the database busy, say)


class Timer:
    """Calls ``fire()`` at the soonest scheduled time (UTC datetimes), from its own thread."""

    def __init__(self, fire, name):
        self._fire = fire
        self._name = name
        self._at = None
        self._wake = threading.Condition()
        self._thread = None

    def schedule(self, at):
        """Make sure ``fire()`` runs at ``at`` or before (None: nothing to schedule)."""
        if at is None:
            return
        with self._wake:
            if self._at is not None and self._at <= at:
                return
            self._at = at
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self):
        while True:
            with self._wake:
                while self._at is None or self._at > datetime.now(UTC):
                    wait = None if self._at is None else (self._at - datetime.now(UTC))
                    self._wake.wait(None if wait is None else max(wait.total_seconds(), 0.001))
                self._at = None
            try:
                self._fire()
            except Exception:  # a timer that gave up would never release anything again
                log.exception("%s: the scheduled call failed; trying again", self._name)
                self.schedule(datetime.now(UTC) + RETRY)
