"""Marshmallow schemas derived from a component's columns: create, patch, batch and child rows."""

import re
from datetime import UTC

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
ID_MESSAGE = "must be 1-128 characters: letters, digits, '.', '_', ':' or '-'"
INT64 = (-(2**63), 2**63 - 1)  # what a BIGINT column holds
NUL_MESSAGE = "must not contain NUL characters"


def no_nul(value):
    """Refuse text holding a NUL character (DuckDB would store it, and clients choke on it)."""
    if "\x00" in value:
        raise ValidationError(NUL_MESSAGE)


class Text(fields.String):
    """A string without NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        no_nul(text)
        return text


class StrList(fields.Field):
    """A list of strings; a single string is taken as a one-element list."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValidationError("must be a string or a list of non-empty strings")
        for text in value:
            no_nul(text)
        return value


class Json(fields.Field):
    """A free-form JSON object."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be a JSON object")
        return value


TIME_RANGE_MESSAGE = "must fall within the years 1 to 9999 in UTC"


def in_utc(moment):
    """Return the aware ``moment`` in UTC; raise ValueError when UTC cannot hold it (year 10000)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(TIME_RANGE_MESSAGE) from None


class Time(fields.AwareDateTime):
    """An ISO 8601 time (UTC when it has no offset) that UTC can represent."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return in_utc(moment)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class StrictFloat(fields.Float):
    """A number (not a string of digits, not a boolean)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        return super()._deserialize(value, attr, data, **kwargs)


def identifier_field(**kwargs):
    """Return a field for a client-supplied id."""
    return Text(validate=validate.Regexp(ID_PATTERN, error=ID_MESSAGE), **kwargs)


def column_field(column, *, for_patch=False):
    """Return the marshmallow field for one column.

    On create, a null leaves the column to its default; a PATCH may set null only where the
    column may hold one.
    """
    kwargs = {"required": column.required and not for_patch}
    if (not column.required and not for_patch) or (for_patch and column.nullable):
        kwargs["allow_none"] = True
    validators = []
    if column.kind == "str":
        if column.max_length:
            validators.append(validate.Length(max=column.max_length))
        if column.required:
            validators.append(validate.Length(min=1))
        if column.choices:
            validators.append(validate.OneOf(column.choices))
        return Text(validate=validators, **kwargs)
    if column.minimum is not None or column.maximum is not None:
        validators.append(validate.Range(min=column.minimum, max=column.maximum))
    if column.kind == "int":
        validators.append(validate.Range(*INT64, error="must fit in 64 bits (signed)"))
        return fields.Integer(strict=True, validate=validators, **kwargs)
    if column.kind == "float":
        return StrictFloat(validate=validators, allow_nan=False, **kwargs)
    if column.kind == "bool":
        return fields.Boolean(truthy={True}, falsy={False}, **kwargs)
    if column.kind == "ts":
        return Time(default_timezone=UTC, **kwargs)
    if column.kind == "str_list":
        return StrList(**kwargs)
    if column.kind == "json":
        return Json(**kwargs)
    raise ValueError(f"unknown column kind {column.kind!r}")


def child_row_schema(child):
    """Return a Schema class validating one row of ``child``."""
    attrs = {c.name: column_field(c) for c in child.columns}
    return Schema.from_dict(attrs, name=f"{child.table}_row")


class ChildRows(fields.Field):
    """Rows of a child table in any of its accepted shapes, normalised to a list of dicts."""

    def __init__(self, child, **kwargs):
        super().__init__(**kwargs)
        self.child = child
        self.row_schema = child_row_schema(child)()

    def _deserialize(self, value, attr, data, **kwargs):
        if self.child.shape == "tags":
            if not isinstance(value, dict):
                raise ValidationError("must be an object of {name: value}")
            rows = []
            for name, tag in value.items():
                if isinstance(tag, (dict, list)):
                    raise ValidationError(f"tag {name!r}: value must be a string, number or null")
                rows.append({"name": name, "value": None if tag is None else str(tag)})
        elif self.child.shape == "named" and isinstance(value, dict):
            rows = []
            for name, item in value.items():
                row = dict(item) if isinstance(item, dict) else {"value": item}
                rows.append({"name": name, **row})
        elif isinstance(value, list):
            rows = value
        else:
            raise ValidationError(
                "must be a list of objects"
                + (" or an object of {name: {value, unit}}" if self.child.shape == "named" else "")
            )
        errors = {}
        loaded = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                errors[index] = ["must be an object"]
                continue
            try:
                row = self.row_schema.load(row)
            except ValidationError as exc:
                errors[index] = exc.messages
                continue
            loaded.append(self.child.row_defaults(row) if self.child.row_defaults else row)
        if errors:
            raise ValidationError(errors)
        return loaded


class _Grouped(fields.Field):
    """A nested object of grouped columns, e.g. ``results: {tests_passed, ...}``."""

    def __init__(self, columns, for_patch, **kwargs):
        super().__init__(**kwargs)
        attrs = {c.name: column_field(c, for_patch=for_patch) for c in columns}
        self.schema = Schema.from_dict(attrs)()

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        return self.schema.load(value)


def _column_fields(columns, *, for_patch):
    attrs = {}
    groups = {}
    for column in columns:
        if column.group:
            groups.setdefault(column.group, []).append(column)
        else:
            attrs[column.name] = column_field(column, for_patch=for_patch)
    for group, members in groups.items():
        attrs[group] = _Grouped(members, for_patch, allow_none=True)
    return attrs


def flatten_groups(component, data):
    """Move grouped values (``results: {...}``) to their top-level column names, in place."""
    for group in {c.group for c in component.columns if c.group}:
        nested = data.pop(group, None)
        if nested:
            data.update(nested)
    return data


def create_schema(component):
    """Return the Schema class for creating one item with nested children."""
    attrs = _column_fields(component.columns, for_patch=False)
    attrs[component.id_column] = identifier_field(load_default=None)
    for child in component.children:
        attrs[child.key] = ChildRows(child, load_default=list)
    return Schema.from_dict(attrs, name=f"{component.entity}_create")


def patch_schema(component):
    """Return the Schema class for PATCH: only the columns a client may change."""
    columns = [c for c in component.columns if c.patch]
    attrs = _column_fields(columns, for_patch=True)

    class _Patch(Schema):
        @validates_schema
        def _not_empty(self, data, **kwargs):
            if not data:
                raise ValidationError("give at least one field to change", "_schema")

    return _Patch.from_dict(attrs, name=f"{component.entity}_patch")


class BatchSchema(Schema):
    """A batch of items: an optional id, a name, a description and free-form metadata."""

    batch_id = identifier_field(load_default=None)
    name = Text(validate=validate.Length(max=256), allow_none=True)
    description = Text(validate=validate.Length(max=4096), allow_none=True)
    metadata = Json(allow_none=True)
