"""Bulk ingest: NDJSON or a JSON array of flat rows, validated column by column, loaded via Arrow.

The rows are those of one table (``core/data/bulk_tables.py``): the main table, batches or a
child table, as export writes them.

Per-row Python validation would be the ingest ceiling (about 50,000 rows/s), so each column is
checked as a whole with Arrow compute; only when a column fails is it scanned to name the first
bad row.

An upload is read and checked a piece at a time (``bulk_pieces.py``).
"""

import io

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from unified_api_server.core.data.bulk_sql import row_error
from unified_api_server.core.errors import ApiError
from unified_api_server.core.schemas import ID_MESSAGE, ID_PATTERN, INT64, NUL_MESSAGE

_FLOAT_MAX = 1.7976931348623157e308

_ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "ts": pa.string(),  # parsed by DuckDB, which names the bad row below
    "str_list": pa.list_(pa.string()),
    "json": pa.string(),
}
_PYTHON_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "ts": (str,),
    "str_list": (list,),
    "json": (dict,),
}


def parse_rows(raw):
    """Parse a JSON array or NDJSON body into a list of rows, naming the first bad line."""
    text = raw.lstrip()
    if not text:
        raise ApiError(400, "empty body: send a JSON array or NDJSON rows")
    if text[:1] == b"[":
        try:
            rows = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON array: {exc}") from None
    else:
        lines = [line for line in text.split(b"\n") if line.strip()]
        try:
            rows = orjson.loads(b"[" + b",".join(lines) + b"]")
        except orjson.JSONDecodeError:
            for index, line in enumerate(lines):
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise row_error(index, f"malformed JSON: {exc}") from None
            raise ApiError(400, "malformed NDJSON") from None
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, "send a non-empty JSON array or NDJSON rows")
    return rows


def _first(values, predicate):
    return next(i for i, v in enumerate(values) if predicate(v))


def _column_array(column, values):
    kind = column.kind
    if kind == "str_list":
        values = [[v] if type(v) is str else v for v in values]
    allowed = _PYTHON_TYPES[kind]
    if kind in ("int", "float") and any(type(v) is bool for v in values):
        raise row_error(_first(values, lambda v: type(v) is bool), f"{column.name}: not a number")
    if kind == "json":
        if not all(v is None or type(v) is dict for v in values):
            raise row_error(
                _first(values, lambda v: v is not None and type(v) is not dict),
                f"{column.name}: must be a JSON object",
            )
        values = [None if v is None else orjson.dumps(v).decode() for v in values]
    try:
        if kind == "float":  # Arrow takes no integer beyond 64 bits, even for a float column
            values = [float(v) if type(v) is int else v for v in values]
        return pa.array(values, _ARROW_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass

    def wrong(v):
        if v is None:
            return False
        if not isinstance(v, allowed):
            return True
        if kind == "int":
            return not INT64[0] <= v <= INT64[1]
        if kind == "float":
            return not -_FLOAT_MAX <= v <= _FLOAT_MAX
        return kind == "str_list" and not all(type(x) is str for x in v)

    bad = next((i for i, v in enumerate(values) if wrong(v)), 0)
    expected = {"int": "a 64-bit integer", "float": "a finite 64-bit number"}.get(kind, kind)
    raise row_error(bad, f"{column.name}: expected {expected}, got {values[bad]!r}")


def _check_values(column, array):
    """Check a whole column at once; name the first bad row when it fails."""

    def fail(mask, message):
        index = pc.index(mask, True).as_py()
        raise row_error(index, f"{column.name}: {message}, got {array[index].as_py()!r}")

    if column.required and array.null_count:
        fail(pc.is_null(array), "missing required field")

    if column.choices:
        inside = pc.or_kleene(pc.is_null(array), pc.is_in(array, pa.array(column.choices)))
        if not pc.all(inside).as_py():
            fail(pc.invert(inside), f"must be one of {', '.join(column.choices)}")
    if column.kind in ("str", "str_list"):
        text = pc.binary_join(array, "\n") if column.kind == "str_list" else array
        nul = pc.fill_null(pc.match_substring(text, "\x00"), False)
        if pc.any(nul).as_py():
            fail(nul, NUL_MESSAGE)
    if column.kind == "float":
        finite = pc.fill_null(pc.is_finite(array), True)
        if not pc.all(finite).as_py():
            fail(pc.invert(finite), "must be a finite number")
    if column.kind == "str" and column.max_length:
        too_long = pc.fill_null(pc.greater(pc.utf8_length(array), column.max_length), False)
        if pc.any(too_long).as_py():
            fail(too_long, f"longer than {column.max_length} characters")
    if column.minimum is not None:
        low = pc.fill_null(pc.less(array, column.minimum), False)
        if pc.any(low).as_py():
            fail(low, f"must be >= {column.minimum}")
    if column.maximum is not None:
        high = pc.fill_null(pc.greater(array, column.maximum), False)
        if pc.any(high).as_py():
            fail(high, f"must be <= {column.maximum}")


def _arrow_schema(target):
    fields = [pa.field(target.id_column, pa.string())]
    groups = {}
    for column in target.columns:
        if column.kind == "json":
            continue  # inferred by the reader, checked by _faithful_json
        fields.append(pa.field(column.name, _ARROW_TYPES[column.kind]))
        if column.group:
            groups.setdefault(column.group, []).append(
                pa.field(column.name, _ARROW_TYPES[column.kind])
            )
    fields += [pa.field(group, pa.struct(members)) for group, members in groups.items()]
    return pa.schema(fields)


def ndjson_to_table(target, raw, first_row=1):
    """Parse NDJSON straight into Arrow (no Python objects), or return None to take the slow path.

    The fast path reads what the schema allows exactly; anything else (a hardware string instead
    of a list, a type error, a JSON-object column the reader cannot hold exactly) falls back to
    the row-by-row path, which names the bad row.
    """
    # Only one object a line, each line starting with "{", goes to Arrow's reader (a line of
    # `null` crashes the process in it); anything else takes the slow path, which names the row.
    if target.row_defaults is not None:
        return None  # rows to fill one by one (a benchmark metric's lower_is_better)
    objects = raw.count(b"\n{") + raw.startswith(b"{")
    if objects != raw.count(b"\n") + (not raw.endswith(b"\n")):
        return None
    json_columns = {c.name for c in target.columns if c.kind == "json"}
    schema = _arrow_schema(target)
    options = pa_json.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior=("infer" if json_columns else "error")
    )
    try:
        table = pa_json.read_json(io.BytesIO(raw), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if set(table.column_names) - set(schema.names) - json_columns:
        return None  # an unknown field: the slow path names it
    if table.num_rows != objects:
        return None  # more than one value on a line (`{} {}`): the slow path names it
    if not all(
        _faithful_json(table.column(n).combine_chunks())
        for n in json_columns & set(table.column_names)
    ):
        return None
    groups = target.groups
    columns = target.column_by_name
    arrays, names = [], []
    for name in table.column_names:
        if name in groups:
            continue
        array = table.column(name).combine_chunks()
        column = columns.get(name)
        if column is not None and column.group:
            nested = pc.struct_field(table.column(column.group).combine_chunks(), column.name)
            array = pc.coalesce(nested, array)
        if array.null_count == len(array) and column is not None and not column.required:
            continue  # absent from every row: the table default applies
        arrays.append(array)
        names.append(name)
    return _finish_table(target, arrays, names, first_row)


def _faithful_json(array, top=True):
    """Return whether an inferred column holds JSON objects that Arrow represents exactly.

    Arrow infers objects as structs; a key missing from some rows would come back as null, so
    only structs without null members are taken (the slow path handles the rest exactly).
    """
    if pa.types.is_null(array.type):
        return True
    if pa.types.is_struct(array.type):
        members = array.flatten()
        return all(m.null_count == array.null_count and _faithful_json(m, False) for m in members)
    if top:
        return False  # not an object: the slow path rejects the row by number
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return _faithful_json(array.flatten(), False)
    return True


def rows_to_table(target, rows, first_row=1):
    """Validate parsed ``rows`` and return them as an Arrow table of the target's columns."""
    if not all(type(r) is dict for r in rows):
        raise row_error(_first(rows, lambda r: type(r) is not dict), "must be a JSON object")
    groups = set(target.groups)
    keys = set().union(*rows)
    if keys & groups:
        for row in rows:
            for group in groups & row.keys():
                nested = row.pop(group)
                if not isinstance(nested, dict):
                    raise row_error(rows.index(row), f"{group}: must be an object")
                row.update(nested)
        keys = set().union(*rows)
    id_column = target.id_column
    allowed = {id_column, *(c.name for c in target.columns)}
    unknown = keys - allowed
    if unknown:
        name = sorted(unknown)[0]
        nested = (
            f" (bulk rows are flat; upload child rows with ?table={name})"
            if target.kind == "items" and name in target.component.child_by_key
            else ""
        )
        raise row_error(_first(rows, lambda r: name in r), f"unknown field {name!r}{nested}")
    ids = [r.get(id_column) for r in rows]
    if not all(v is None or type(v) is str for v in ids):
        raise row_error(
            _first(ids, lambda v: v is not None and type(v) is not str),
            f"{id_column}: {ID_MESSAGE}",
        )
    if target.row_defaults is not None:  # filled in once every row passes the checks
        _finish_table(target, *_arrays(target, rows, keys, ids), first_row)
        rows = [target.row_defaults(dict(r)) for r in rows]
        keys = set().union(*rows)
    return _finish_table(target, *_arrays(target, rows, keys, ids), first_row)


def _arrays(target, rows, keys, ids):
    """Return the Arrow arrays of the given (or required) columns, and their names."""
    arrays, names = [pa.array(ids, pa.string())], [target.id_column]
    for column in target.columns:
        if column.name in keys or column.required:
            arrays.append(_column_array(column, [r.get(column.name) for r in rows]))
            names.append(column.name)
    return arrays, names


def _finish_table(target, arrays, names, first_row=1):
    """Run the column checks shared by both paths and add the row numbers."""
    columns = target.column_by_name
    for array, name in zip(arrays, names):
        if name == target.id_column:
            if target.kind == "child" and array.null_count:
                index = pc.index(pc.is_null(array), True).as_py()
                raise row_error(index, f"{name}: missing required field")
            valid = pc.fill_null(pc.match_substring_regex(array, ID_PATTERN.pattern), True)
            if not pc.all(valid).as_py():
                index = pc.index(valid, False).as_py()
                raise row_error(index, f"{name}: {ID_MESSAGE}")
        else:
            _check_values(columns[name], array)
    missing = [c for c in target.columns if c.required and c.name not in names]
    if missing:
        raise row_error(0, f"{missing[0].name}: missing required field")
    arrays.append(pa.array(range(first_row, first_row + len(arrays[0])), pa.int64()))
    return pa.Table.from_arrays(arrays, names=[*names, "_row"])


def table_from_body(target, raw, first_row=1):
    """Return the validated Arrow table of a bulk body (NDJSON or a JSON array of flat rows)."""
    table = ndjson_to_table(target, raw, first_row)
    if table is None:
        table = rows_to_table(target, parse_rows(raw), first_row)
    return table
