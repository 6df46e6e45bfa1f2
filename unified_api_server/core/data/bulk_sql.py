"""The SQL of a bulk load: rows staged piece by piece, checks naming the first bad row, one INSERT.

The rows arrive as Arrow tables, one per piece of the upload, already validated column by column
(with a ``_row`` column of 1-based row numbers across the whole upload). :func:`stage` copies
each into the temporary table ``incoming`` of the load's own session, so memory holds one piece
at a time and DuckDB spills what exceeds its memory limit to disk. What only the database can
tell (unparseable times, ids that exist or repeat, batches or items that do not exist) is then
checked inside the load's transaction, and the rows go in with one INSERT ... SELECT.

The table loaded is a ``BulkTable`` (``bulk_tables.py``): the main table, batches or a child
table. Child rows go in in the order they came, which is the order reads give them back.
"""

from unified_api_server.core.data.derived import column_defaults, derived
from unified_api_server.core.errors import ApiError
from unified_api_server.core.schemas import TIME_RANGE_MESSAGE

_FIRST, _LAST = "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"


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


_STAGED_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "ts": "VARCHAR",  # parsed by the checks below, which name the bad row
    "str_list": "VARCHAR[]",
    "json": "JSON",
}


def stage(target, cursor, tables):
    """Copy Arrow ``tables`` into the session's temporary ``incoming``; return the columns seen.

    Returns ``(names, rows)``: the columns some row gave (the others take their defaults) and
    the number of rows staged.
    """
    # Items get their ids here, as they are staged (uuidv7: time-ordered, cheap to index), so
    # what a load stored can be named afterwards; an UPDATE of a large staged load would copy it.
    made = target.kind == "items"
    new_id = "uuidv7()::VARCHAR"
    columns = [f"{target.id_column} VARCHAR" + (f" DEFAULT ({new_id})" if made else "")]
    columns += [f"{c.name} {_STAGED_TYPES[c.kind]}" for c in target.columns]
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE incoming ({', '.join(columns)}, _row BIGINT)")
    kinds = {c.name: c.kind for c in target.columns}
    kinds[target.id_column] = "made_id" if made else "str"
    seen, rows = [], 0
    for table in tables:
        names = table.column_names
        seen += [n for n in names if n not in seen]
        casts = {
            "json": "CAST({n} AS JSON) AS {n}",
            "made_id": f"coalesce({{n}}, {new_id}) AS {{n}}",
        }
        select = ", ".join(casts.get(kinds.get(n), "{n}").format(n=n) for n in names)
        cursor.register("piece", table)
        try:
            cursor.execute(f"INSERT INTO incoming BY NAME SELECT {select} FROM piece")
        finally:
            cursor.unregister("piece")
        rows += table.num_rows
    return [n for n in seen if n != "_row"], rows


_SUMMARY = {"model_name": "model_names", "status": "statuses", "batch_id": "batch_ids"}


def summary(target, cursor):
    """Return what a staged load's change event says: its count and distinct values.

    Child rows are told with the model names, statuses and batches of their items, so a
    subscriber's filter picks them as it picks the items.
    """
    component, id_column = target.component, target.id_column
    if target.kind == "batches":
        row = cursor.execute(
            "SELECT count(*), list_sort(list_distinct(list(batch_id)))[:100] FROM incoming"
        ).fetchone()
        return {"entity": "batch", "count": row[0], "batch_ids": row[1]}
    fields = [name for name in _SUMMARY if name in component.column_by_name]
    listed = "".join(f", list_sort(list_distinct(list(t.{name})))[:100]" for name in fields)
    source = "incoming t"
    if target.kind == "child":
        source = f"incoming i JOIN {component.table} t USING ({id_column})"
    row = cursor.execute(f"SELECT count(*){listed} FROM {source}").fetchone()
    event = {"count": row[0], **{_SUMMARY[name]: v for name, v in zip(fields, row[1:])}}
    return {"child": target.name, **event} if target.kind == "child" else event


def _check_times(target, cursor, names):
    for column in target.columns:
        if column.kind == "ts" and column.name in names:
            _first_conflict(
                cursor,
                f"SELECT _row, {column.name} FROM incoming WHERE {column.name} IS NOT NULL AND "
                f"TRY_CAST({column.name} AS TIMESTAMPTZ) IS NULL ORDER BY _row LIMIT 1",
                f"{column.name}: not an ISO 8601 time: {{!r}}",
                status=400,
            )
            _first_conflict(
                cursor,
                f"SELECT _row, {column.name} FROM incoming WHERE NOT "
                f"CAST({column.name} AS TIMESTAMPTZ) BETWEEN '{_FIRST}' AND '{_LAST}' "
                "ORDER BY _row LIMIT 1",
                f"{column.name}: {TIME_RANGE_MESSAGE}, got {{!r}}",
                status=400,
            )


def _check_keys(target, cursor, names):
    """Refuse an id repeated in the upload or already stored (409), as a create would.

    Items whose ids no row gave were all numbered at staging (uuidv7): nothing to check, and
    no scan of every stored id (DuckLake has no index to find them by).
    """
    id_column = target.id_column
    if target.kind == "items" and id_column not in names:
        return
    what = target.component.entity if target.kind == "items" else "batch"
    _first_conflict(
        cursor,
        f"SELECT min(_row), {id_column} FROM incoming WHERE {id_column} IS NOT NULL "
        f"GROUP BY {id_column} HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
        f"{id_column} {{!r}} appears more than once in this upload",
    )
    _first_conflict(
        cursor,
        f"SELECT i._row, i.{id_column} FROM incoming i JOIN {target.table} t "
        f"USING ({id_column}) ORDER BY 1 LIMIT 1",
        f"{what} {{!r}} already exists",
    )


def _check_parents(target, cursor):
    """Refuse child rows of an item that does not exist (400), and a name set twice (409)."""
    component, id_column = target.component, target.id_column
    _first_conflict(
        cursor,
        f"SELECT _row, {id_column} FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM "
        f"{component.table} t WHERE t.{id_column} = i.{id_column}) ORDER BY 1 LIMIT 1",
        f"{id_column}: {component.entity} {{!r}} does not exist; upload it first",
        status=400,
    )
    if target.child.shape == "list":
        return
    _first_conflict(  # an item's tags and named metrics are maps: one row a name
        cursor,
        f"SELECT min(_row), name FROM (SELECT _row, {id_column}, name FROM incoming UNION ALL "
        f"SELECT NULL, {id_column}, name FROM {target.table} WHERE {id_column} IN "
        f"(SELECT {id_column} FROM incoming)) GROUP BY {id_column}, name "
        "HAVING count(*) > 1 AND min(_row) IS NOT NULL ORDER BY 1 LIMIT 1",
        f"{target.child.key}: {{!r}} of this {component.entity} is already set",
    )


def _check(target, cursor, names):
    _check_times(target, cursor, names)
    if "content_hash" in names:
        _first_conflict(
            cursor,
            "SELECT _row, content_hash FROM incoming WHERE NOT "
            "regexp_full_match(content_hash, '[0-9a-f]{64}') ORDER BY 1 LIMIT 1",
            "content_hash: must be 64 lowercase hex digits (SHA-256), got {!r}",
            status=400,
        )
    if target.kind == "child":
        _check_parents(target, cursor)
        return
    _check_keys(target, cursor, names)
    if target.kind == "items" and "batch_id" in names:
        _first_conflict(
            cursor,
            "SELECT _row, batch_id FROM incoming WHERE batch_id IS NOT NULL AND batch_id NOT IN "
            f"(SELECT batch_id FROM {target.component.batch_table}) ORDER BY 1 LIMIT 1",
            "batch {!r} does not exist; create it first",
        )


def empty_lists(component):
    """Return the list columns of ``component``'s items that hold [] rather than NULL (the
    write path gives it: DuckLake has no default for a list)."""
    return tuple(c.name for c in component.columns if c.kind == "str_list" and not c.nullable)


def _targets(target, cursor, names):
    """Return the target columns and the SELECT expressions that fill them."""
    kinds = {c.name: c.kind for c in target.columns}
    lists = empty_lists(target.component) if target.kind == "items" else ()
    found = column_defaults(cursor, target.table)
    defaults = {name: sql for name, sql in found.items() if sql is not None}
    columns, expressions = [], []
    for name in names:
        casts = {"ts": f"CAST({name} AS TIMESTAMPTZ)", "json": f"CAST({name} AS JSON)"}
        expression = casts.get(kinds.get(name), name)
        if name == target.id_column and target.kind != "child":
            # uuidv7 is time-ordered: cheap key index inserts
            expression = f"coalesce({name}, uuidv7()::VARCHAR)"
        elif name in defaults:
            expression = f"coalesce({expression}, {defaults[name]})"
        elif name in lists:
            expression = f"coalesce({expression}, []::VARCHAR[])"
        columns.append(name)
        expressions.append(expression)
    for name in lists:
        if name not in columns:
            columns.append(name)
            expressions.append("[]::VARCHAR[]")
    if (
        target.kind == "items"
        and "duration" not in columns
        and {"started_at", "completed_at"} <= set(columns)
    ):
        columns.append("duration")
        expressions.append(
            "epoch(CAST(completed_at AS TIMESTAMPTZ)) - epoch(CAST(started_at AS TIMESTAMPTZ))"
        )
    if target.kind == "items":  # e.g. the Benchmark's series key, from what a row holds
        for name, sql in derived(target.component, dict(zip(columns, expressions)), found):
            columns.append(name)
            expressions.append(sql)
    return columns, expressions


def insert_staged(target, cursor, names, first_id=None):
    """Check and insert the staged rows inside the caller's transaction; return the count.

    ``first_id`` numbers child rows from there where the table has no sequence (DuckLake).
    """
    _check(target, cursor, names)
    if target.kind == "items" and target.id_column not in names:  # made at staging
        names = [target.id_column, *names]
    columns, expressions = _targets(target, cursor, names)
    # Child rows take ids in this order, the order reads give back.
    order = " ORDER BY _row" if target.kind == "child" else ""
    if first_id is not None and target.kind == "child":
        columns.insert(0, "id")
        expressions.insert(0, f"{int(first_id)} + row_number() OVER (ORDER BY _row) - 1")
    return cursor.execute(
        f"INSERT INTO {target.table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM incoming{order}"
    ).fetchone()[0]
