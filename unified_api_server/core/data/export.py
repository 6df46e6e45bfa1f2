"""Streaming export of a component's tables as JSON, NDJSON, CSV or Parquet (never to a path)."""

import io

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from unified_api_server.core.errors import ApiError

FORMATS = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
BATCH_ROWS = 8192


def export_columns(component):
    """Return the columns of an items export, as ``fields=`` may choose them (flat, all kinds)."""
    names = [component.id_column, *(c.name for c in component.columns)]
    return [*names, "created_at", "updated_at", "content_hash"]


def export_query(component, query, table, *, ordered=False, fields=None):
    """Return ``(sql, params, name)`` selecting ``table`` ('<entities>', 'batches' or a child).

    What it selects, bulk takes back unchanged into the table of the same name: the main table
    keeps its ``content_hash`` (an idempotent create compares it), and a child table leaves out
    its surrogate ``id``, which the loading database draws anew in the rows' order. Items come
    oldest first, or in the query's order when ``ordered``; ``fields`` picks their columns.
    """
    id_column = component.id_column
    where, params = query.where(component)
    if table in (None, component.entities):
        columns = ", ".join(f"t.{name}" for name in fields) if fields else "t.*"
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


def stream(database, sql, params, fmt, json_columns=()):
    """Yield the result of ``sql`` encoded as ``fmt``, one Arrow batch at a time."""
    cursor = database.cursor()
    try:
        reader = cursor.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        if fmt in ("json", "ndjson"):
            yield from _stream_json(reader, fmt == "json", set(json_columns))
        elif fmt == "csv":
            yield from _stream_file(reader, pa_csv.CSVWriter, _csv_ready)
        else:
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
        chunk = separator.join(orjson.dumps(r) for r in rows)
        if as_array:
            yield chunk if first else separator + chunk
        else:
            yield chunk + b"\n"
        first = False
    if as_array:
        yield b"]\n"


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
