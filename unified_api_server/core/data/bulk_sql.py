"""The SQL of a bulk load: checks that name the first bad row, then one INSERT ... SELECT.

The rows arrive as an Arrow table already validated column by column (with a ``_row`` column
of 1-based row numbers); what only the database can tell (unparseable times, ids that exist,
batches that do not) is checked here, inside the load's transaction.
"""

from unified_api_server.core.errors import ApiError


def row_error(index, message, status=400):
    """Return the error for 0-based row ``index``: nothing of the upload is stored."""
    return ApiError(
        status,
        f"row {index + 1}: {message}; nothing was stored",
        {"row": index + 1, "reason": message},
    )


def _first_conflict(cursor, sql, message, status=409):
    found = cursor.execute(sql).fetchall()
    if found:
        row, value = found[0]
        raise row_error(row - 1, message.format(value), status)


def _check(component, cursor, table):
    id_column = component.id_column
    for column in component.columns:
        if column.kind == "ts" and column.name in table.column_names:
            _first_conflict(
                cursor,
                f"SELECT _row, {column.name} FROM incoming WHERE {column.name} IS NOT NULL AND "
                f"TRY_CAST({column.name} AS TIMESTAMPTZ) IS NULL ORDER BY _row LIMIT 1",
                f"{column.name}: not an ISO 8601 time: {{!r}}",
                status=400,
            )
    _first_conflict(
        cursor,
        f"SELECT min(_row), {id_column} FROM incoming WHERE {id_column} IS NOT NULL "
        f"GROUP BY {id_column} HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
        f"{id_column} {{!r}} appears more than once in this upload",
    )
    _first_conflict(
        cursor,
        f"SELECT i._row, i.{id_column} FROM incoming i JOIN {component.table} t "
        f"USING ({id_column}) ORDER BY 1 LIMIT 1",
        f"{component.entity} {{!r}} already exists",
    )
    if "batch_id" in table.column_names:
        _first_conflict(
            cursor,
            "SELECT _row, batch_id FROM incoming WHERE batch_id IS NOT NULL AND batch_id NOT IN "
            f"(SELECT batch_id FROM {component.batch_table}) ORDER BY 1 LIMIT 1",
            "batch {!r} does not exist; create it first",
        )


def _targets(component, cursor, names):
    """Return the target columns and the SELECT expressions that fill them."""
    kinds = {c.name: c.kind for c in component.columns}
    defaults = dict(
        cursor.execute(
            "SELECT column_name, column_default FROM duckdb_columns() "
            "WHERE table_name = ? AND column_default IS NOT NULL",
            [component.table],
        ).fetchall()
    )
    targets, expressions = [], []
    for name in names:
        casts = {"ts": f"CAST({name} AS TIMESTAMPTZ)", "json": f"CAST({name} AS JSON)"}
        expression = casts.get(kinds.get(name), name)
        if name == component.id_column:  # uuidv7 is time-ordered: cheap key index inserts
            expression = f"coalesce({name}, uuidv7()::VARCHAR)"
        elif name in defaults:
            expression = f"coalesce({expression}, {defaults[name]})"
        targets.append(name)
        expressions.append(expression)
    if "duration" not in targets and {"started_at", "completed_at"} <= set(targets):
        targets.append("duration")
        expressions.append(
            "epoch(CAST(completed_at AS TIMESTAMPTZ)) - epoch(CAST(started_at AS TIMESTAMPTZ))"
        )
    return targets, expressions


def insert_table(component, cursor, table):
    """Check and insert the Arrow ``table`` inside the caller's transaction; return the count."""
    cursor.register("incoming", table)
    try:
        _check(component, cursor, table)
        names = [n for n in table.column_names if n != "_row"]
        targets, expressions = _targets(component, cursor, names)
        cursor.execute(
            f"INSERT INTO {component.table} ({', '.join(targets)}) "
            f"SELECT {', '.join(expressions)} FROM incoming"
        )
    finally:
        cursor.unregister("incoming")
    return table.num_rows
