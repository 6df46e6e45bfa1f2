"""Streaming export of a component's tables as JSON, NDJSON, CSV or Parquet (never to a path)."""

import io

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from unified_api_server.core.data.query import iso_text
from unified_api_server.core.errors import ApiError

FORMATS = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
BATCH_ROWS = 8192
# A Parquet row group per batch: bigger groups compress better (half the bytes of 8,192-row
# groups) and write faster; one batch of them is what an export holds in memory.
PARQUET_BATCH_ROWS = 65_536
_MARK = orjson.Fragment(b"\x00")
_MARKED = b",\x00,"


def export_columns(component):
    """Return the columns of an items export, as ``fields=`` may choose them (flat, all kinds)."""
    names = [component.id_column, *(c.name for c in component.columns)]
    return [*names, "created_at", "updated_at", "content_hash"]


def export_query(component, query, table, *, ordered=False, fields=None):
    """Return ``(sql, params, name)`` selecting ``table`` ('<entities>', 'batches' or a child).

    What it selects, bulk takes back unchanged into the table of the same name: the main table
    keeps its ``content_hash`` (an idempotent create compares it) but not its derived columns
    (:mod:`.derived`: the loading write path fills them), and a child table leaves out
    its surrogate ``id``, which the loading database draws anew in the rows' order. Items come
    oldest first, or in the query's order when ``ordered``; ``fields`` picks their columns.
    """
    id_column = component.id_column
    where, params = query.where(component)
    if table in (None, component.entities):
        columns = ", ".join(f"t.{name}" for name in fields) if fields else _stored(component)
        order = query.order_by(component) if ordered else f"ORDER BY t.started_at, t.{id_column}"
        return f"SELECT {columns} FROM {component.table} t {where} {order}", params, component.table
    if ordered or fields:
        term = "sort" if ordered else "fields"
        raise ApiError(400, f"{term}: applies to the {component.entities} table only")
    if table == "batches":
        sql = f"SELECT * FROM {component.batch_table} ORDER BY created_at, batch_id"
        return sql, [], component.batch_table
    child = component.child_by_key.get(table)
    if child is None:
        choices = [component.entities, "batches", *component.child_by_key]
        raise ApiError(400, f"table: must be one of {', '.join(choices)}", {"table": table})
    sql = (
        f"SELECT c.* EXCLUDE (id) FROM {child.table} c WHERE c.{id_column} IN "
        f"(SELECT t.{id_column} FROM {component.table} t {where}) "
        f"ORDER BY c.{id_column}, c.id"
    )
    return sql, params, child.table


def _stored(component):
    """Return the SQL selecting every column of the main table but the derived ones (the write
    path fills those, so bulk refuses them; a column a pending migration adds may be absent)."""
    derived = [name for name, _ in component.derived_columns]
    if not derived:
        return "t.*"
    return f"COLUMNS(lambda c: c NOT IN ({', '.join(repr(name) for name in derived)}))"


def _csv_ready(batch):
    """Return the batch with list and struct columns as JSON text (CSV cells hold scalars)."""
    columns, fields = [], []
    for field, column in zip(batch.schema, batch.columns):
        if pa.types.is_nested(field.type):
            column = pa.array(
                [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()],
                pa.string(),
            )
            field = pa.field(field.name, pa.string())
        columns.append(column)
        fields.append(field)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _times_as_text(cursor, relation, sql, params):
    """Return ``relation`` with its time columns as ISO 8601 text, made by DuckDB: building a
    Python datetime per value cost most of a JSON export, and Arrow's CSV writer formats a
    zoned time 25 times slower than text (JSON and CSV then write the same times)."""
    times = [
        name
        for name, kind in zip(relation.columns, relation.types)
        if str(kind) == "TIMESTAMP WITH TIME ZONE"
    ]
    if not times:
        return relation
    replace = ", ".join(f"{iso_text(f't.{quoted}')} AS {quoted}" for quoted in map(_quote, times))
    return cursor.sql(f"SELECT * REPLACE ({replace}) FROM ({sql}) t", params=params)


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def stream(database, sql, params, fmt, json_columns=()):
    """Yield the result of ``sql`` encoded as ``fmt``, one Arrow batch at a time."""
    cursor = database.cursor()
    try:
        relation = cursor.sql(sql, params=params)  # not run yet: its columns are known
        if fmt in ("json", "ndjson", "csv"):
            relation = _times_as_text(cursor, relation, sql, params)
        if fmt in ("json", "ndjson"):
            reader = relation.to_arrow_reader(BATCH_ROWS)
            yield from _stream_json(reader, fmt == "json", set(json_columns))
        elif fmt == "csv":
            reader = relation.to_arrow_reader(BATCH_ROWS)
            yield from _stream_file(reader, pa_csv.CSVWriter, _csv_ready)
        else:
            reader = relation.to_arrow_reader(PARQUET_BATCH_ROWS)
            yield from _stream_file(reader, pq.ParquetWriter, lambda batch: batch)
    finally:
        cursor.close()


def _stream_json(reader, as_array, json_columns):
    separator = b",\n" if as_array else b"\n"
    embed = [name for name in reader.schema.names if name in json_columns]
    first = True
    if as_array:
        yield b"["
    for batch in reader:
        rows = batch.to_pylist()
        if not rows:
            continue
        for row in rows:
            for name in embed:
                if row[name] is not None:
                    row[name] = orjson.Fragment(row[name])
        chunk = _encode_rows(rows, separator)
        if as_array:
            yield chunk if first else separator + chunk
        else:
            yield chunk + b"\n"
        first = False
    if as_array:
        yield b"]\n"


def _encode_rows(rows, separator):
    """Return ``rows`` as JSON objects joined by ``separator``: one orjson call for all of them
    (a call per row costs several times more), marks between them swapped for ``separator``.

    A mark is a raw NUL, which no JSON text holds (strings escape it; JSON columns refuse it).
    """
    marked = [_MARK] * (2 * len(rows) - 1)
    marked[::2] = rows
    encoded = orjson.dumps(marked)[1:-1]
    if encoded.count(_MARKED) != len(rows) - 1:  # never expected: encode row by row instead
        return separator.join(orjson.dumps(row) for row in rows)
    return encoded.replace(_MARKED, separator)


def _stream_file(reader, make_writer, prepare):
    sink = io.BytesIO()
    writer = None
    for batch in reader:
        batch = prepare(batch)
        if writer is None:
            writer = make_writer(sink, batch.schema)
        writer.write_batch(batch)
        if sink.tell():
            yield sink.getvalue()
            sink.seek(0)
            sink.truncate()
    if writer is None:  # no rows: still a valid file with a header / schema
        empty = prepare(pa.RecordBatch.from_pylist([], schema=reader.schema))
        writer = make_writer(sink, empty.schema)
        writer.write_batch(empty)
    writer.close()
    if sink.tell():
        yield sink.getvalue()
