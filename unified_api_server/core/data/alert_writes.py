"""The alert changes of one write, set-based: a statement for every kind of change, not a row.

A bulk load may raise a thousand alerts and resolve as many; inside its transaction each
statement costs about as much as the row it writes (a couple of milliseconds of CPU), so
:class:`.alerts.Alerts` works out what changes first and writes them here: one INSERT of the new
alerts, one UPDATE of those resolved, one INSERT of their events in order.
"""

from unified_api_server.core.data.alert_queries import SELECTOR

# The SQL type of each selector part (as the alert tables declare it).
_PART_TYPES = {name: "BIGINT" if name == "batch_size" else "VARCHAR" for name in SELECTOR}
_IN_FORCE = f"SELECT kind, {', '.join(SELECTOR)}, until FROM alert_suppressions WHERE until > now()"


def insert_rows(cursor, table, rows):
    """Insert ``rows`` (column -> (SQL type, list of values), lists of one length) into
    ``table`` in one statement, in list order (a sequence default numbers them in it)."""
    count = len(next(iter(rows.values()))[1])
    names = ", ".join(rows)
    lists = ", ".join(f"unnest(?::{kind}[]) AS {name}" for name, (kind, _) in rows.items())
    cursor.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM "
        f"(SELECT {lists}, unnest(range(?)) AS _place) ORDER BY _place",
        [*(values for _, values in rows.values()), count],
    )


def insert_numbered_rows(database, cursor, table, column, rows):
    """Insert ``rows`` as :func:`insert_rows`, ``column`` numbered in their order by its
    sequence or the storage (``Database.insert_numbered``, for many rows); return the numbers
    (None: the sequence's)."""
    count = len(next(iter(rows.values()))[1])
    first = database.new_ids(cursor, table, column, count)
    numbers = None if first is None else list(range(first, first + count))
    if numbers is not None:
        rows = {column: ("BIGINT", numbers), **rows}
    insert_rows(cursor, table, rows)
    return numbers


def suppressions_in_force(cursor):
    """Return the suppressions in force as ``(kind, *selector parts, until)`` rows."""
    return cursor.execute(_IN_FORCE).fetchall()


def suppressed_until(suppressions, kind, series):
    """Return the soonest expiry of the ``suppressions`` matching an alert of ``kind`` on
    ``series`` (a NULL part of a suppression matches anything), or None."""
    parts = (kind, *(series.get(name) for name in SELECTOR))
    ends = [
        row[-1]
        for row in suppressions
        if all(want is None or want == part for want, part in zip(row, parts))
    ]
    return min(ends, default=None)


def insert_alerts(cursor, raised):
    """Insert the new alerts: ``raised`` is ``[(alert_id, finding, details JSON, state)]``."""
    rows = {
        "alert_id": ("VARCHAR", [alert_id for alert_id, *_ in raised]),
        "kind": ("VARCHAR", [f.kind for _, f, *_ in raised]),
        "series_key": ("VARCHAR", [f.key for _, f, *_ in raised]),
    }
    for name, kind in _PART_TYPES.items():
        rows[name] = (kind, [f.series.get(name) for _, f, *_ in raised])
    rows["item_id"] = ("VARCHAR", [f.item_id for _, f, *_ in raised])
    rows["message"] = ("VARCHAR", [f.message for _, f, *_ in raised])
    rows["details"] = ("VARCHAR", [details for _, _, details, _ in raised])
    rows["state"] = ("VARCHAR", [state for *_, state in raised])
    rows["suppressed"] = ("BOOLEAN", [state == "suppressed" for *_, state in raised])
    insert_rows(cursor, "alerts", rows)


def resolve_alerts(cursor, resolved, by):
    """Resolve the alerts ``resolved`` (alert id -> the item whose write resolved it, or None)
    as ``by`` (a key name, or "auto"), in one UPDATE."""
    cursor.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = ?, "
        "resolved_item_id = r.item_id FROM (SELECT unnest(?::VARCHAR[]) AS alert_id, "
        "unnest(?::VARCHAR[]) AS item_id) r WHERE alerts.alert_id = r.alert_id",
        [by, list(resolved), list(resolved.values())],
    )
