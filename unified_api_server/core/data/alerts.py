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
from unified_api_server.core.data.alert_writes import (
    insert_alerts,
    insert_numbered_rows,
    resolve_alerts,
    suppressed_until,
    suppressions_in_force,
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


# Suppression ``s`` matches alert ``a``.
_COVERS = " AND ".join(
    f"(s.{name} IS NULL OR s.{name} IS NOT DISTINCT FROM a.{name})" for name in ("kind", *SELECTOR)
)
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
        """Raise the firing findings' alerts and resolve the recovered ones (one transaction),
        as though one finding after another, in a statement for each kind of change."""
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
        raised, resolved, changes = [], {}, []
        for finding in findings:
            found = opened.get(finding.key)
            if finding.firing and found is None:
                opened[finding.key] = str(uuid.uuid4())
                raised.append((opened[finding.key], finding))
                changes.append((opened[finding.key], None))  # raised or suppressed: below
            elif not finding.firing and found is not None:
                resolved[found] = finding.item_id
                changes.append((found, "resolved"))
                del opened[finding.key]
        actions = self._raise(cur, raised)
        if resolved:
            resolve_alerts(cur, resolved, "auto")
        self._events(cur, [(alert_id, action or actions[alert_id]) for alert_id, action in changes])

    def _raise(self, cur, raised):
        """Insert the alerts ``raised`` (``[(alert_id, finding)]``), suppressed where a
        suppression in force matches; return each one's action (raised or suppressed)."""
        if not raised:
            return {}
        # Suppressions are read once, and only while some are in force: a bulk load may raise
        # a thousand alerts, and every statement in its transaction counts.
        suppressions = suppressions_in_force(cur)
        rows, actions = [], {}
        for alert_id, finding in raised:
            until = suppressed_until(suppressions, finding.kind, finding.series)
            self._expiries.schedule(until)  # raised again then, if it is still open
            state = "suppressed" if until else "active"
            details = None if finding.details is None else orjson.dumps(finding.details).decode()
            rows.append((alert_id, finding, details, state))
            actions[alert_id] = "suppressed" if until else "raised"
        insert_alerts(cur, rows)
        return actions

    def _change(self, cur, alert_id, state, by=None):
        """Acknowledge or resolve one alert as ``by`` (a person's action)."""
        if state == "resolved":
            resolve_alerts(cur, {alert_id: None}, by)
        else:
            cur.execute(
                "UPDATE alerts SET state = ?, acknowledged_at = now(), acknowledged_by = ? "
                "WHERE alert_id = ?",
                [state, by, alert_id],
            )
        self._events(cur, [(alert_id, state)])

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
        self._events(cur, [(alert_id, "raised") for (alert_id,) in released])

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

    def _events(self, cur, changes):
        """Record ``changes`` (``[(alert_id, action)]``, in order) as events, numbered in it."""
        if not changes:
            return
        self._local.pending = True
        ids, actions = [c[0] for c in changes], [c[1] for c in changes]
        rows = {"alert_id": ("VARCHAR", ids), "action": ("VARCHAR", actions)}
        seqs = insert_numbered_rows(self.db, cur, "alert_events", "seq", rows)
        if seqs is not None:  # shared by replicas: this process publishes what it recorded
            recorded = getattr(self._local, "recorded", None) or []
            self._local.recorded = [*recorded, *zip(seqs, ids, actions)]

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
                recorded = set(recorded)
                rows = [r for r in rows if (r[0], r[2], r[1]) in recorded]
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
