"""A circuit breaker per component: a component that keeps failing is skipped, then probed back.

After ``failures`` consecutive refusals or timeouts the component is marked down for
``cooldown`` seconds: forwarding answers 503 at once and the views skip it, instead of every
caller waiting out its own timeout. When the cool-down is over, one caller probes the
component's ``/health`` (the others keep failing fast meanwhile): healthy closes the breaker,
anything else opens it for another cool-down. Each gateway worker keeps its own breakers.
"""

import threading
import time

CLOSED, OPEN, PROBING = "closed", "open", "probing"


class Breaker:
    """Counts consecutive failures of one component; tells callers whether to try it."""

    def __init__(self, failures, cooldown, clock=time.monotonic):
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state = CLOSED
        self.consecutive = 0
        self.opened_at = 0.0
        self._lock = threading.Lock()

    def retry_in(self):
        """Return the seconds left before the component is probed again (0 when closed)."""
        if self.state == CLOSED:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown - self.clock())

    def check(self, probe):
        """Return None when a call may go ahead, else why not; ``probe()`` tests health."""
        if self.state == CLOSED:
            return None
        with self._lock:
            if self.state == PROBING or self.retry_in() > 0:
                return self._why()
            self.state = PROBING
        try:
            healthy = probe()
        except BaseException:  # killed mid-probe (a view's budget ran out): still down
            with self._lock:
                self.state, self.opened_at = OPEN, self.clock()
            raise
        with self._lock:
            if healthy:
                self.state, self.consecutive = CLOSED, 0
                return None
            self.state, self.opened_at = OPEN, self.clock()
            return self._why()

    def succeeded(self):
        """Record an answer (any status): the component is there."""
        if self.consecutive:
            with self._lock:
                self.consecutive = 0

    def failed(self):
        """Record a refusal or a timeout; open the breaker at the threshold."""
        with self._lock:
            self.consecutive += 1
            if self.state == CLOSED and self.consecutive >= self.failures:
                self.state, self.opened_at = OPEN, self.clock()

    def _why(self):
        return (
            f"marked down after {self.consecutive} failed calls in a row; "
            f"probed again in {self.retry_in():.0f} s"
        )
