"""Columns a component derives from an item's other columns, filled by the write path.

A derived column (``Component.derived_columns``: ``(name, SQL template)``) is never given by a
client and never patched: the write path fills it as it inserts the item, from the values the
row will hold. The template names its inputs as ``{column}``; each becomes the SQL the insert
fills that column with, else the column's default, else NULL, so a column a client left out
counts at its stored default (the Benchmark's ``series_key``: one integer per configuration).
"""


def column_defaults(cursor, table):
    """Return ``{column: default SQL or None}`` of every column of ``table``."""
    return dict(
        cursor.execute(
            "SELECT column_name, column_default FROM duckdb_columns() WHERE table_name = ?",
            [table],
        ).fetchall()
    )


class _Inputs(dict):
    def __init__(self, given, defaults):
        super().__init__()
        self.given, self.defaults = given, defaults

    def __missing__(self, name):
        return f"({self.given.get(name) or self.defaults.get(name) or 'NULL'})"


def derived(component, given, columns):
    """Return ``[(column, SQL)]`` of ``component``'s derived columns that its table has (a
    migration adding one may be pending), each input taken from ``given`` (``{column: SQL
    filling it}``), else its default in ``columns`` (:func:`column_defaults`), else NULL."""
    inputs = _Inputs(given, columns)
    return [
        (name, template.format_map(inputs))
        for name, template in component.derived_columns
        if name in columns
    ]
