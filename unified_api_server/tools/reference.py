"""Reference tables written into the documentation from the code itself.

``docs/api.md`` holds one section per registered component (its routes' names, columns, child
tables, statistics, imports and jobs) and ``docs/operations.md`` one table of settings per
process; ``scripts/render-docs`` writes them between ``<!-- reference:NAME -->`` and
``<!-- /reference:NAME -->`` markers, and a test fails while the committed text is stale.
"""

import re

from unified_api_server.core.web.app import component_settings
from unified_api_server.gateway.settings import GATEWAY
from unified_api_server.launcher.config import LAUNCHER
from unified_api_server.registry import COMPONENTS

_KINDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "ts": "time (ISO 8601)",
    "str_list": "list of strings",
    "json": "object",
}


def _cell(text):
    return str(text).replace("|", "\\|")


def _column_row(column):
    notes = []
    if column.required:
        notes.append("required")
    if column.choices:
        notes.append("one of " + ", ".join(f"`{c}`" for c in column.choices))
    if column.minimum is not None or column.maximum is not None:
        notes.append(
            f"range {column.minimum if column.minimum is not None else ''}.."
            f"{column.maximum if column.maximum is not None else ''}"
        )
    if column.group:
        notes.append(f"nested under `{column.group}` in bodies")
    uses = [use for use, on in (("filter", column.filter), ("search", column.search),
                                ("PATCH", column.patch)) if on]  # fmt: skip
    return (
        f"| `{column.name}` | {_KINDS[column.kind]} | {', '.join(uses) or '-'} | "
        f"{_cell('; '.join(notes)) or '-'} |"
    )


def _component_section(c):
    base = f"/api/{c.name}/db"
    lines = [
        f"### {c.title} (`{c.name}`, port {c.default_port})",
        "",
        f"Collection `{base}/{c.entities}`, one item `{base}/{c.entity}/{{{c.id_column}}}`, "
        f"table `{c.table}`; batches in `{c.batch_table}`, deleted with "
        f"`?{c.batch_delete_param}=true|false`; statistics rows count `{c.count_name()}`, "
        f"`completed_{c.entities}`, `failed_{c.entities}`, ...",
        "",
        "| column | type | used by | notes |",
        "| --- | --- | --- | --- |",
        f"| `{c.id_column}` | string | - | the id: given by the client, or made by the server |",
        *(_column_row(column) for column in c.columns),
        "",
        "| child (`POST .../{id}/<child>`) | table | shape | columns |",
        "| --- | --- | --- | --- |",
    ]
    shapes = {
        "list": "list of rows",
        "named": "`{name: {value, unit, ...}}`",
        "tags": "`{name: value}`",
    }
    for child in c.children:
        columns = ", ".join(f"`{col.name}` ({_KINDS[col.kind]})" for col in child.columns)
        lines.append(f"| `{child.key}` | `{child.table}` | {shapes[child.shape]} | {columns} |")
    lines += [""] + _extras(c)
    return lines


def _extras(c):
    base = f"/api/{c.name}/db"
    lines = []
    for route, keys in c.group_stats:
        lines.append(f"- `GET {base}/{route}`: statistics per {' x '.join(keys)}.")
    for alias, _ in c.extra_aggregates:
        names = alias if isinstance(alias, tuple) else (alias,)
        lines.append(f"- Statistics rows add {', '.join(f'`{n}`' for n in names)}.")
    for importer in c.importers:
        params = ", ".join(f"`{p}`" for p in importer.params)
        lines.append(
            f"- `POST {base}/import/{importer.format}`: {importer.description}"
            f" ({'one item' if importer.single else 'one item per entry'}); parameters {params}."
        )
    if c.jobs is not None:
        for submission in c.jobs.submissions:
            lines.append(f"- `POST /api/{c.name}{submission.path}`: starts jobs (see Jobs).")
        lines.append(
            f"- `GET /api/{c.name}/status/{{id}}`, `POST /api/{c.name}/cancel/{{id}}`, "
            f"`GET /api/{c.name}/{c.jobs.results_path}/{{id}}`, `GET /api/{c.name}/hardware`."
        )
    return lines + ([""] if lines else [])


def components_reference():
    """Return the per-component sections of docs/api.md."""
    lines = []
    for component in COMPONENTS:
        lines += _component_section(component)
    return "\n".join(lines).rstrip() + "\n"


def _settings_table(title, group, command):
    lines = [
        f"#### {title}: `{command}`",
        "",
        "| setting (file key) | flag | environment | default | what |",
        "| --- | --- | --- | --- | --- |",
    ]
    for setting in group.settings:
        default = setting._default_text()
        flag = f"`{setting.flag_name}`"
        if setting.type is bool:
            flag += f" / `--no-{setting.flag_name[2:]}`"
            default = str(default).lower()
        variable = group.variable(setting)
        lines.append(
            f"| `{setting.name}` | {flag} | `{variable}` | `{_cell(default)}` | "
            f"{_cell(setting.help)} |"
        )
    return lines + [""]


def settings_reference():
    """Return the settings tables of docs/operations.md."""
    lines = _settings_table("The launcher", LAUNCHER, "unified-api-server run")
    lines += _settings_table("The gateway", GATEWAY, "unified-api-server gateway")
    for component in COMPONENTS:
        lines += _settings_table(
            component.title,
            component_settings(component),
            f"unified-api-server component {component.name}",
        )
    return "\n".join(lines).rstrip() + "\n"


REFERENCES = {
    "docs/api.md": {"components": components_reference},
    "docs/operations.md": {"settings": settings_reference},
}


def fill(text, blocks):
    """Return ``text`` with each ``<!-- reference:NAME -->`` block replaced by its table."""
    for name, make in blocks.items():
        pattern = re.compile(
            rf"(<!-- reference:{name} -->\n).*?(<!-- /reference:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"no <!-- reference:{name} --> block")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text
