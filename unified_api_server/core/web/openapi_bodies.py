"""What the OpenAPI spec says a component answers: marshmallow output schemas from its columns,
and the OpenAPI shapes of the custom input fields of :mod:`unified_api_server.core.schemas`.

Output schemas leave unknown fields allowed (``INCLUDE``): answers grow (a search adds
``score``, a statistics row the component's extra aggregates), and a client that picks fields
with ``fields=`` gets only some, so no item field is required.
"""

from functools import cache

from marshmallow import INCLUDE, Schema, fields

from unified_api_server.core.schemas import ChildRows, Json, StrList, _Grouped

_OUTPUT_FIELDS = {
    "str": fields.String,
    "int": fields.Integer,
    "float": fields.Float,
    "bool": fields.Boolean,
    "ts": fields.AwareDateTime,
    "str_list": lambda **kw: fields.List(fields.String(), **kw),
    "json": lambda **kw: fields.Dict(**kw),
}
STATUSES = ("status", "code", "message", "details")


class Open(Schema):
    """An answer that may carry more fields than it names."""

    class Meta:
        """Unknown fields are kept (and so allowed by the spec)."""

        unknown = INCLUDE


class ErrorFields(Schema):
    """The fields of the one error envelope (``core.errors.error_body``)."""

    status = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class ErrorSchema(Schema):
    """Every error of every service: ``{"error": {status, code, message, details?}}``."""

    error = fields.Nested(ErrorFields, required=True)


def field_attributes(converter, field, **kwargs):
    """Return the OpenAPI attributes of the custom input fields (the plugin's attribute hook)."""
    if isinstance(field, StrList):
        text = {"type": "string", "minLength": 1}
        return {"oneOf": [text, {"type": "array", "items": text}]}
    if isinstance(field, Json):
        return {"type": "object"}
    if isinstance(field, _Grouped):
        return converter.resolve_nested_schema(field.schema)
    if isinstance(field, ChildRows):
        row = converter.resolve_nested_schema(field.row_schema)
        if field.child.shape == "tags":
            value = {"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True}
            return {"type": "object", "additionalProperties": value}
        rows = {"type": "array", "items": row}
        if field.child.shape == "named":
            return {"oneOf": [rows, {"type": "object", "additionalProperties": {"type": "object"}}]}
        return rows
    return {}


def column_output(column):
    """Return the output field of one column (every value may be null)."""
    return _OUTPUT_FIELDS[column.kind](allow_none=True)


def schema_name(component, what):
    """Return a spec-wide unique schema name such as ``test_run`` or ``benchmark_run_page``."""
    return f"{component.name}_{component.entity}{'_' + what if what else ''}"


def item_schema(component, *, detail):
    """Return the output schema of one item; ``detail`` adds its children (steps, metrics...)."""
    attrs = {component.id_column: fields.String(required=detail)}
    groups = []
    for column in component.columns:
        if column.group and column.group not in groups:
            groups.append(column.group)
        elif not column.group:
            attrs[column.name] = column_output(column)
    for group in groups:
        attrs[group] = fields.Nested(_group_schema(component, group), allow_none=True)
    attrs["created_at"] = fields.AwareDateTime()
    attrs["updated_at"] = fields.AwareDateTime()
    if detail:
        for child in component.children:
            attrs[child.key] = _child_output(component, child)
    return Open.from_dict(attrs, name=schema_name(component, "detail" if detail else ""))


@cache
def _group_schema(component, group):
    """Return the nested schema of a group of columns (built once: one name in the spec)."""
    members = {c.name: column_output(c) for c in component.columns if c.group == group}
    return Open.from_dict(members, name=schema_name(component, group))


@cache
def _child_row(component, key):
    """Return the output schema of one row of a child table (built once)."""
    child = component.child_by_key[key]
    columns = [c for c in child.columns if not (child.shape == "named" and c.name == "name")]
    return Open.from_dict(
        {c.name: column_output(c) for c in columns}, name=schema_name(component, key)
    )


def _child_output(component, child):
    if child.shape == "tags":
        return fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    row = _child_row(component, child.key)
    if child.shape == "named":
        return fields.Dict(keys=fields.String(), values=fields.Nested(row))
    return fields.List(fields.Nested(row))


def page_schema(component, item, key=None, *, total=True):
    """Return a list page: ``{<entities>: [...], count, limit, next_cursor, total?, ...}``."""
    attrs = {
        key or component.entities: fields.List(fields.Nested(item), required=True),
        "count": fields.Integer(required=True),
        "limit": fields.Integer(required=True),
        "next_cursor": fields.String(required=True, allow_none=True),
    }
    if total:
        attrs["total"] = fields.Integer()
        attrs["total_is_exact"] = fields.Boolean()
    return Open.from_dict(attrs, name=schema_name(component, f"{key or ''}_page".lstrip("_")))


def stats_row_schema(component):
    """Return one statistics row: counts per status, success rate, durations, latest start."""
    counts = ("total", "completed", "failed", "cancelled", "timeout", "running")
    attrs = {component.count_name(s if s != "total" else None): fields.Integer() for s in counts}
    for name in ("success_rate", "avg_duration", "min_duration", "max_duration"):
        attrs[name] = fields.Float(allow_none=True)
    for name in ("p50_duration", "p95_duration"):
        attrs[name] = fields.Float(allow_none=True)
    attrs[f"latest_{component.entity}"] = fields.AwareDateTime(allow_none=True)
    return Open.from_dict(attrs, name=schema_name(component, "stats_row"))


def batch_schema(component):
    """Return one batch with its member counts."""
    attrs = {
        "batch_id": fields.String(required=True),
        "name": fields.String(allow_none=True),
        "description": fields.String(allow_none=True),
        "metadata": fields.Dict(allow_none=True),
        "created_at": fields.AwareDateTime(),
        "started_at": fields.AwareDateTime(allow_none=True),
        "completed_at": fields.AwareDateTime(allow_none=True),
    }
    for status in (None, "completed", "failed", "running"):
        attrs[component.count_name(status)] = fields.Integer()
    return Open.from_dict(attrs, name=schema_name(component, "batch"))


def open_schema(component, what, **attrs):
    """Return a named answer schema with ``attrs`` (unknown fields allowed)."""
    return Open.from_dict(attrs, name=schema_name(component, what))


def nested_list(schema, **kwargs):
    """Return a list-of-``schema`` field."""
    return fields.List(fields.Nested(schema), **kwargs)
