"""Reading alerts, suppressions and webhook deliveries: filters and keyset pages."""

import orjson

from unified_api_server.core.component import Column
from unified_api_server.core.data.query import decode_cursor, encode_cursor

KINDS = ("regression", "test_failure", "job_failure_rate")
STATES = ("active", "acknowledged", "suppressed", "resolved")
OPEN = ("active", "acknowledged", "suppressed")
ACTIONS = ("raised", "acknowledged", "resolved", "suppressed")
# What an alert concerns; a suppression names any of them (NULL: any).
SELECTOR = ("model_name", "hardware", "batch_size", "precision", "test_type", "metric", "test_name")
COLUMNS = (
    "alert_id",
    "kind",
    *SELECTOR,
    "item_id",
    "message",
    "details",
    "state",
    "suppressed",
    "raised_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "resolved_item_id",
)
SUPPRESSION = ("suppression_id", "kind", *SELECTOR, "until", "reason", "created_at", "created_by")
DELIVERY = ("delivery_id", "alert_id", "action", "webhook", "url", "attempt", "status_code")
DELIVERY += ("error", "attempted_at")
_ALERT_KEYS = (Column("raised_at", kind="ts", nullable=False), Column("alert_id", nullable=False))
_DELIVERY_KEYS = (Column("delivery_id", kind="int", nullable=False),)


def alert_row(row):
    """Return an alert as the API answers it, from a row of :data:`COLUMNS`."""
    alert = dict(zip(COLUMNS, row))
    if isinstance(alert["details"], str):
        alert["details"] = orjson.loads(alert["details"])
    return alert


def _where(filters):
    """Return ``(sql, params)`` of the alert filters given (state, kind, model_name, since...)."""
    parts, params = [], []
    for name in ("state", "kind", "model_name"):
        values = filters.get(name) or []
        if values:
            parts.append(f"{name} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if filters.get("since") is not None:
        parts.append("raised_at >= ?")
        params.append(filters["since"])
    if filters.get("until") is not None:
        parts.append("raised_at < ?")
        params.append(filters["until"])
    return parts, params


def list_alerts(cur, filters, limit, token=None):
    """Return ``(alerts newest first, next cursor or None)`` matching ``filters``."""
    parts, params = _where(filters)
    if token:
        raised_at, alert_id = decode_cursor(token, "alerts", _ALERT_KEYS)
        parts.append("(raised_at, alert_id) < (?, ?)")
        params += [raised_at, alert_id]
    where = f"WHERE {' AND '.join(parts)}" if parts else ""
    rows = cur.execute(
        f"SELECT {', '.join(COLUMNS)} FROM alerts {where} "
        "ORDER BY raised_at DESC, alert_id DESC LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    alerts = [alert_row(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return alerts, None
    last = alerts[-1]
    return alerts, encode_cursor("alerts", [last["raised_at"].isoformat(), last["alert_id"]])


def get_alert(cur, alert_id):
    """Return one alert, or None."""
    row = cur.execute(
        f"SELECT {', '.join(COLUMNS)} FROM alerts WHERE alert_id = ?", [alert_id]
    ).fetchone()
    return None if row is None else alert_row(row)


def open_alerts(cur, model_name, limit):
    """Return a model's open alerts (active, acknowledged or suppressed), newest first."""
    return list_alerts(cur, {"state": list(OPEN), "model_name": [model_name]}, limit)[0]


def list_suppressions(cur, include_expired=False):
    """Return the suppressions, newest first (only those still in force unless asked)."""
    where = "" if include_expired else "WHERE until > now()"
    rows = cur.execute(
        f"SELECT {', '.join(SUPPRESSION)} FROM alert_suppressions {where} "
        "ORDER BY created_at DESC, suppression_id"
    ).fetchall()
    return [dict(zip(SUPPRESSION, row)) for row in rows]


def get_suppression(cur, suppression_id):
    """Return one suppression, or None."""
    row = cur.execute(
        f"SELECT {', '.join(SUPPRESSION)} FROM alert_suppressions WHERE suppression_id = ?",
        [suppression_id],
    ).fetchone()
    return None if row is None else dict(zip(SUPPRESSION, row))


def list_deliveries(cur, alert_id, limit, token=None):
    """Return ``(delivery attempts oldest first, next cursor or None)``, of one alert or all."""
    parts, params = [], []
    if alert_id:
        parts.append("alert_id = ?")
        params.append(alert_id)
    if token:
        parts.append("delivery_id > ?")
        params.append(decode_cursor(token, "deliveries", _DELIVERY_KEYS)[0])
    where = f"WHERE {' AND '.join(parts)}" if parts else ""
    rows = cur.execute(
        f"SELECT {', '.join(DELIVERY)} FROM alert_deliveries {where} ORDER BY delivery_id LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    deliveries = [dict(zip(DELIVERY, row)) for row in rows[:limit]]
    more = len(rows) > limit and deliveries
    return deliveries, encode_cursor(
        "deliveries", [deliveries[-1]["delivery_id"]]
    ) if more else None


def open_values(cur, kind, series, part):
    """Return the ``part`` of each open alert of ``kind`` whose other parts are ``series``."""
    names = list(series)
    match = " AND ".join(f"{name} IS NOT DISTINCT FROM ?" for name in names)
    rows = cur.execute(
        f"SELECT {part} FROM alerts WHERE kind = ? AND state IN ({', '.join('?' * len(OPEN))}) "
        f"AND {match}",
        [kind, *OPEN, *[series[name] for name in names]],
    ).fetchall()
    return [row[0] for row in rows]
