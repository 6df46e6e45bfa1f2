"""At most K heavy requests (exports, imports, bulk loads) run at once per component.

A heavy request holds memory beyond DuckDB's limit while it runs (Arrow batches on their way to
the client, a parsed upload), so their number is bounded: above ``heavy_requests`` the answer
is 503 with ``Retry-After`` at once, rather than a process that grows until it is killed and
slows every other request down meanwhile. A streamed answer holds its slot until the stream ends.
"""

import threading

from unified_api_server.core.errors import ApiError
from unified_api_server.core.settings import Setting

SETTINGS = (
    Setting(
        "heavy_requests",
        int,
        4,
        "exports, imports and bulk loads running at once (more: 503 with Retry-After)",
        minimum=1,
        maximum=64,
    ),
)
RETRY_AFTER = 2  # seconds a refused client is told to wait


class Slots:
    """A non-blocking counting gate: :meth:`take` a slot, call what it returns to give it back.

    ``kind`` names what is counted in the refusal ("heavy requests", "WebSockets").
    """

    def __init__(self, limit, kind="heavy requests"):
        self.limit = limit
        self.kind = kind
        self._free = threading.BoundedSemaphore(limit)

    def take(self, what):
        """Return the release function of a free slot, or raise 503 naming ``what``."""
        if not self._free.acquire(blocking=False):
            raise ApiError(
                503,
                f"{what}: {self.limit} {self.kind} are already running in this component; "
                f"try again in {RETRY_AFTER} s",
                {"limit": self.limit},
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        released = threading.Event()

        def release():
            if not released.is_set():
                released.set()
                self._free.release()

        return release
