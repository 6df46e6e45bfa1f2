"""Alerts with a lifecycle, in the database of the component that owns the data.

A write's findings (:class:`Finding`, from :mod:`.alert_rules` and the component's own
``alert_rules``) raise or auto-resolve alerts inside the write's own transaction: one open
alert per series (``series_key``). Every change is recorded in ``alert_events`` in commit
order; :meth:`Alerts.flush`, called after each commit, publishes the new ones on the change
feed and hands them to the webhooks, so nobody hears of a change that was rolled back.

States: ``active`` -> ``acknowledged`` -> ``resolved``; an alert raised while a suppression
matches it is ``suppressed`` (recorded, never pushed to webhooks) and may still be resolved.
Once no suppression in force matches an open suppressed alert (the last one expired or was
deleted), its condition still holds (it would have resolved otherwise), so it is raised again:
it becomes ``active``, and ``raised`` is published and sent to the webhooks. A deletion does
it in its own transaction, an expiry from a timer at that time, and a write finding the
condition again does it at once.
"""

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from unified_api_server.core.data.alert_queries import (
    COLUMNS,
    OPEN,
    SELECTOR,
    alert_row,
    get_alert,
    get_suppression,
)
from unified_api_server.core.data.expiry import Timer
from unified_api_server.core.errors import ApiError

# Which states each manual action may leave (anything else is a 409).
TRANSITIONS = {"acknowledge": ("active",), "resolve": OPEN}


@dataclass(frozen=True)
class Finding:
    """What a rule found about one series in a write: firing (raise) or recovered (resolve)."""

    kind: str
    series: dict  # parts of SELECTOR; those left out are NULL
    item_id: str
    firing: bool
    message: str = ""
    details: dict | None = None

    @property
    def key(self):
        """Return the series key: the kind and every selector part, canonical."""
        parts = [self.series.get(name) for name in SELECTOR]
        return orjson.dumps([self.kind, *parts], default=str).decode()


_MATCH_SUPPRESSION = " AND ".join(
    f"(s.{name} IS NULL OR s.{name} IS NOT DISTINCT FROM ?)" for name in ("kind", *SELECTOR)
)
# Suppression ``s`` matches alert ``a``.
_COVERS = " AND ".join(
    f"(s.{name} IS NULL OR s.{name} IS NOT DISTINCT FROM a.{name})" for name in ("kind", *SELECTOR)
)
_ANY_SUPPRESSION = "SELECT EXISTS (SELECT 1 FROM alert_suppressions WHERE until > now())"
# A suppression in force matches the alert ``a``.
_HELD = f"SELECT 1 FROM alert_suppressions s WHERE s.until > now() AND {_COVERS}"
# The soonest expiry of a suppression holding an open suppressed alert.
_NEXT_EXPIRY = (
    "SELECT min(s.until) FROM alert_suppressions s WHERE s.until > now() AND EXISTS "
    f"(SELECT 1 FROM alerts a WHERE a.state = 'suppressed' AND {_COVERS})"
)


class Alerts:
    """Raises, changes and publishes one component's alerts."""

    def __init__(self, component, database, changes=None, webhooks=None, rules=()):
        self.c = component
        self.db = database
        self.changes = changes
        self.webhooks = webhooks  # a core.webhooks.Webhooks, or None
        self.rules = (*rules, *component.alert_rules)
        self._flush_lock = threading.Lock()
        self._published = None  # the last event seq published (read at first flush)
        self._tables = False  # the alert tables exist (a migration may still be pending)
        # Set by the thread whose write recorded alert changes: only it needs to flush after.
        self._local = threading.local()
        self._expiries = Timer(self.release_expired, f"{component.name}-suppression-expiry")

    # -- inside a write's transaction ----------------------------------------------------------
    def evaluate(self, cur, written):
        """Apply what every rule finds in what a write stored (inside its transaction)."""
        if not self._ready(cur):
            return
        findings = [finding for rule in self.rules for finding in rule(cur, written)]
        self.apply(cur, findings)

    def _ready(self, cur):
        """Tell whether the alert tables exist (until they do, a database without them, or with
        their migration pending, stores its data without alerts)."""
        if not self._tables:
            found = "SELECT 1 FROM duckdb_tables() WHERE table_name = 'alert_events'"
            self._tables = cur.execute(found).fetchone() is not None
        return self._tables

    def apply(self, cur, findings):
        """Raise the firing findings' alerts and resolve the recovered ones (one transaction)."""
        findings = list(findings)
        if not findings:
            return
        keys = sorted({f.key for f in findings})
        open_rows = cur.execute(
            "SELECT series_key, alert_id, state FROM alerts WHERE state IN ('active', "
            "'acknowledged', 'suppressed') AND series_key IN (SELECT unnest(?::VARCHAR[]))",
            [keys],
        ).fetchall()
        opened = {key: alert_id for key, alert_id, _ in open_rows}
        held = {key for key, _, state in open_rows if state == "suppressed"}
        firing = sorted(held & {f.key for f in findings if f.firing})
        if firing:  # found again: raised now if its suppression ended (not at the timer's call)
            self._release(cur, firing)
        # Each raise asks for a matching suppression only while some is in force: a bulk load
        # may raise a thousand alerts, and every statement in its transaction counts.
        suppressions = cur.execute(_ANY_SUPPRESSION).fetchone()[0]
        for finding in findings:
            found = opened.get(finding.key)
            if finding.firing and found is None:
                opened[finding.key] = self._raise(cur, finding, suppressions)
            elif not finding.firing and found is not None:
                self._change(cur, found, "resolved", by="auto", item_id=finding.item_id)
                del opened[finding.key]

    def _raise(self, cur, finding, suppressions=True):
        parts = [finding.series.get(name) for name in SELECTOR]
        suppressed = None
        if suppressions:
            suppressed = cur.execute(
                "SELECT min(until) FROM alert_suppressions s WHERE s.until > now() AND "
                f"{_MATCH_SUPPRESSION}",
                [finding.kind, *parts],
            ).fetchone()[0]
        state = "suppressed" if suppressed else "active"
        self._expiries.schedule(suppressed)  # raised again then, if it is still open
        alert_id = str(uuid.uuid4())
        details = None if finding.details is None else orjson.dumps(finding.details).decode()
        cur.execute(
            f"INSERT INTO alerts (alert_id, kind, series_key, {', '.join(SELECTOR)}, item_id, "
            f"message, details, state, suppressed) "
            f"VALUES ({', '.join(['?'] * (len(SELECTOR) + 8))})",
            [alert_id, finding.kind, finding.key, *parts, finding.item_id, finding.message]
            + [details, state, bool(suppressed)],
        )
        self._event(cur, alert_id, "suppressed" if suppressed else "raised")
        return alert_id

    def _change(self, cur, alert_id, state, by=None, item_id=None):
        if state == "acknowledged":
            sql, params = "acknowledged_at = now(), acknowledged_by = ?", [by]
        else:
            sql, params = (
                "resolved_at = now(), resolved_by = ?, resolved_item_id = ?",
                [by, item_id],
            )
        cur.execute(
            f"UPDATE alerts SET state = ?, {sql} WHERE alert_id = ?", [state, *params, alert_id]
        )
        self._event(cur, alert_id, state)

    def _release(self, cur, keys=None):
        """Raise again the open suppressed alerts (of series ``keys``, or all) that no
        suppression in force matches any more."""
        where = "" if keys is None else " AND a.series_key IN (SELECT unnest(?::VARCHAR[]))"
        # Selected, then updated (DuckLake has no RETURNING on an UPDATE); the write lock
        # keeps the two in step.
        released = cur.execute(
            f"SELECT alert_id FROM alerts a WHERE a.state = 'suppressed' AND NOT EXISTS "
            f"({_HELD}){where} ORDER BY alert_id",
            [] if keys is None else [keys],
        ).fetchall()
        if not released:
            return
        cur.execute(
            "UPDATE alerts SET state = 'active', suppressed = FALSE, raised_at = now() "
            "WHERE alert_id IN (SELECT unnest(?::VARCHAR[]))",
            [[alert_id for (alert_id,) in released]],
        )
        for (alert_id,) in released:
            self._event(cur, alert_id, "raised")

    def release_expired(self):
        """Raise again what expired suppressions held; schedule the next expiry (the timer's
        call, and at start)."""
        if self.db.closed:
            return

        def work(cur):
            if not self._ready(cur):
                return None
            self._release(cur)
            return cur.execute(_NEXT_EXPIRY).fetchone()[0]

        self._expiries.schedule(self.db.run_write(work))
        self.flush()

    def _event(self, cur, alert_id, action):
        self._local.pending = True
        row = {"alert_id": alert_id, "action": action}
        seq = self.db.insert_numbered(cur, "alert_events", "seq", row)
        if seq is not None:  # shared by replicas: this process publishes what it recorded
            self._local.recorded = [*getattr(self._local, "recorded", ()), (seq, alert_id, action)]

    # -- people's actions ------------------------------------------------------------------------
    def transition(self, alert_id, action, by):
        """Acknowledge or resolve an alert as ``by`` (a key name); return it (404, 409)."""
        state = {"acknowledge": "acknowledged", "resolve": "resolved"}[action]

        def work(cur):
            row = cur.execute("SELECT state FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
            if row is None:
                raise ApiError(404, f"alert {alert_id!r} not found")
            if row[0] not in TRANSITIONS[action]:
                raise ApiError(
                    409,
                    f"alert {alert_id!r} is {row[0]}; only an alert that is "
                    f"{' or '.join(TRANSITIONS[action])} can be {state}",
                    {"state": row[0]},
                )
            self._change(cur, alert_id, state, by=by)
            return get_alert(cur, alert_id)

        alert = self.db.run_write(work)
        self.flush()
        return alert

    def suppress(self, selector, until, reason, by):
        """Store a suppression of every alert ``selector`` matches until ``until``; return it."""
        suppression_id = str(uuid.uuid4())
        names = ("kind", *SELECTOR)

        def work(cur):
            cur.execute(
                f"INSERT INTO alert_suppressions (suppression_id, {', '.join(names)}, until, "
                f"reason, created_by) VALUES ({', '.join(['?'] * (len(names) + 4))})",
                [suppression_id, *[selector.get(n) for n in names], until, reason, by],
            )
            return get_suppression(cur, suppression_id)

        return self.db.run_write(work)

    def unsuppress(self, suppression_id):
        """Delete a suppression (404 when unknown); what it alone held is raised again."""

        def work(cur):
            deleted = cur.execute(
                "DELETE FROM alert_suppressions WHERE suppression_id = ?", [suppression_id]
            ).fetchone()[0]
            if not deleted:
                raise ApiError(404, f"suppression {suppression_id!r} not found")
            self._release(cur)

        self.db.run_write(work)
        self.flush()

    def log_delivery(self, alert_id, action, webhook, url, attempt, status_code, error):
        """Record one webhook delivery attempt."""

        def work(cur):
            row = {"alert_id": alert_id, "action": action, "webhook": webhook, "url": url}
            row.update(attempt=attempt, status_code=status_code, error=error)
            self.db.insert_numbered(cur, "alert_deliveries", "delivery_id", row)

        self.db.run_write(work)

    # -- after the commit ----------------------------------------------------------------------
    def prime(self):
        """Start publishing after the changes already stored (a restart repeats none)."""
        cursor = self.db.cursor()
        try:
            self._published = 0
            if self._ready(cursor):
                last = "SELECT coalesce(max(seq), 0) FROM alert_events"
                self._published = cursor.execute(last).fetchone()[0]
                held = "SELECT 1 FROM alerts WHERE state = 'suppressed' LIMIT 1"
                if cursor.execute(held).fetchone():  # the timer sees what expired meanwhile
                    self._expiries.schedule(datetime.now(UTC))
        finally:
            cursor.close()

    def flush(self):
        """Publish the alert changes committed since the last flush, in commit order."""
        if not getattr(self._local, "pending", False):
            return
        self._local.pending = False
        recorded, self._local.recorded = getattr(self._local, "recorded", None), None
        with self._flush_lock:
            if self._published is None:
                self.prime()
            where, params = "e.seq > ?", [self._published]
            if recorded:  # (a rolled-back attempt's numbers may be another's now: match all)
                where, params = "e.seq IN (SELECT unnest(?::BIGINT[]))", [[r[0] for r in recorded]]
            cursor = self.db.cursor()
            try:
                rows = cursor.execute(
                    f"SELECT e.seq, e.action, e.alert_id, {', '.join('a.' + c for c in COLUMNS)} "
                    f"FROM alert_events e JOIN alerts a USING (alert_id) WHERE {where} "
                    "ORDER BY e.seq",
                    params,
                ).fetchall()
            finally:
                cursor.close()
            if recorded:
                rows = [r for r in rows if (r[0], r[2], r[1]) in set(recorded)]
            rows = [(seq, action, *rest) for seq, action, _, *rest in rows]
            for row in rows:
                self._published = row[0]
                self._announce(row[1], alert_row(row[2:]))

    def _announce(self, action, alert):
        alert = {"component": self.c.name, **alert}
        if self.changes is not None:
            self.changes.publish_alert(action, alert)
        # A suppressed alert is recorded and streamed, but nobody is paged about it.
        if self.webhooks is not None and not alert["suppressed"]:
            self.webhooks.send(action, alert)
