"""Alert webhooks: each alert change POSTed as Slack-compatible JSON, off the write path.

Every configured URL has its own bounded queue and sender thread, so a receiver that hangs
holds up only its own deliveries, never a write nor the other receivers. A delivery is tried up
to ``alert_webhook_attempts`` times, waiting ``alert_webhook_backoff`` seconds and then twice
as long each time; every attempt is logged in ``alert_deliveries`` (the URL's origin only).
When a queue is full the change is dropped for that receiver and a warning logged.
"""

import logging
import queue
import threading
import time
from urllib.parse import urlsplit

import orjson
import requests

from unified_api_server.core.settings import Setting

log = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}
QUEUE_SIZE = 1000  # changes waiting per receiver before new ones are dropped
SETTINGS = (
    Setting(
        "alert_webhooks",
        list,
        [],
        "URLs each alert change is POSTed to as Slack-compatible JSON (secret: a webhook URL "
        "usually is its own credential)",
        secret=True,
    ),
    Setting(
        "alert_webhook_attempts", int, 5, "delivery attempts per change", minimum=1, maximum=20
    ),
    Setting(
        "alert_webhook_backoff",
        float,
        1.0,
        "seconds before the first retry; each later one waits twice as long",
        minimum=0,
    ),
    Setting(
        "alert_webhook_timeout",
        float,
        5.0,
        "seconds a receiver has to answer one attempt",
        minimum=0.1,
    ),
)


def origin(url):
    """Return ``scheme://host[:port]`` of ``url``: no user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def message(action, alert):
    """Return the Slack-compatible body of one alert change."""
    text = f"[{alert['component']}] alert {action}: {alert['message']}"
    return {"text": text, "action": action, "alert": alert}


class Webhooks:
    """Delivers alert changes to every configured URL from background threads."""

    def __init__(self, settings, log_delivery):
        self.urls = list(settings["alert_webhooks"])
        self.attempts = settings["alert_webhook_attempts"]
        self.backoff = settings["alert_webhook_backoff"]
        self.timeout = settings["alert_webhook_timeout"]
        self.log_delivery = log_delivery  # (alert_id, action, webhook, url, attempt, code, error)
        self._queues = [queue.Queue(QUEUE_SIZE) for _ in self.urls]
        self._lock = threading.Lock()
        self._started = False

    def send(self, action, alert):
        """Queue one alert change for every receiver; never waits."""
        if not self.urls:
            return
        self._start()
        for number, pending in enumerate(self._queues):
            try:
                pending.put_nowait((action, alert))
            except queue.Full:
                log.warning("webhook %d is %d changes behind: dropped one", number, QUEUE_SIZE)

    def _start(self):
        with self._lock:
            if self._started:
                return
            self._started = True
        for number in range(len(self.urls)):
            name = f"alert-webhook-{number}"
            threading.Thread(target=self._run, args=(number,), name=name, daemon=True).start()

    def _run(self, number):
        session = requests.Session()
        while True:
            action, alert = self._queues[number].get()
            try:
                self._deliver(session, number, action, alert)
            except Exception:  # a sender that dies would silence every later alert
                log.exception("webhook %d: delivering alert %s failed", number, alert["alert_id"])

    def _deliver(self, session, number, action, alert):
        url = self.urls[number]
        body = orjson.dumps(message(action, alert), default=str)
        for attempt in range(1, self.attempts + 1):
            code, error = None, None
            try:
                response = session.post(url, data=body, headers=_JSON, timeout=self.timeout)
                code = response.status_code
                delivered = response.ok
            except requests.RequestException as exc:
                error, delivered = type(exc).__name__, False
            self.log_delivery(alert["alert_id"], action, number, origin(url), attempt, code, error)
            if delivered:
                return
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        log.warning("webhook %d: alert %s %s not delivered", number, alert["alert_id"], action)
