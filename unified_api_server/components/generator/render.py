"""Render a model's pytest module from its family's template (the generator job's child process).

``python -m unified_api_server.components.generator.render SPEC_JSON`` reads the task (model,
template, target path, context, force, fix_syntax), reports each step to the parent, and writes
the file only inside the output folder it was given. Values from ``template_context`` enter the
source as Python literals (``repr``), never as code.
"""

import ast
import json
import os
import sys
import time
from datetime import UTC, datetime
from string import Template

from unified_api_server.components.generator.options import inside
from unified_api_server.core.jobs.child import fail, report, watch_parent

TEMPLATE_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
STEPS = 4


def template_path(name, templates_dir=None):
    """Return the file of template ``name``: the configured folder first, then the built-ins."""
    for folder in filter(None, (templates_dir, TEMPLATE_FOLDER)):
        path = os.path.join(folder, f"{name}.py.tmpl")
        if os.path.isfile(path):
            return path
    return None


def render(spec):
    """Return the module source for ``spec``."""
    context = spec["context"]
    base = template_path("base", spec.get("templates_dir"))
    family = template_path(spec["template"], spec.get("templates_dir"))
    if family is None:
        raise ValueError(f"template {spec['template']!r} does not exist")
    with open(base, encoding="utf-8") as handle:
        base_text = handle.read()
    with open(family, encoding="utf-8") as handle:
        family_code = handle.read()
    values = {
        "model_name": repr(spec["model_name"]),
        "model_name_text": spec["model_name"],
        "model_type": repr(spec["model_type"]),
        "model_type_text": spec["model_type"],
        "family": spec["family"],
        "family_literal": repr(spec["family"]),
        "template": repr(spec["template"]),
        "template_text": spec["template"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sequence_length": repr(context["sequence_length"]),
        "batch_size": repr(context["batch_size"]),
        "batch_sizes": repr(list(context["batch_sizes"])),
        "config": repr(dict(spec["tiny_config"], **context.get("config", {}))),
        "description": repr(context.get("description", "")),
        "family_code": family_code.rstrip() + "\n",
    }
    return Template(base_text).substitute(values)


def step(name, started, status="completed", message=None, index=1):
    """Report a finished step and the progress it makes."""
    report(
        "step",
        name=name,
        status=status,
        duration=round(time.perf_counter() - started, 6),
        completed_at=datetime.now(UTC).isoformat(),
        message=message,
    )
    report("progress", progress=index / STEPS, current_step=name)


def main(argv=None):
    """Render, check and write one module; report each step."""
    watch_parent()
    spec = json.loads((argv or sys.argv[1:])[0])
    started = time.perf_counter()
    report("progress", progress=0.0, current_step="rendering")
    try:
        source = render(spec)
    except (KeyError, ValueError, OSError) as exc:
        fail(f"cannot render template {spec['template']!r}: {exc}")
    step("render", started, message=f"{spec['template']} template", index=1)
    started = time.perf_counter()
    if spec["fix_syntax"]:
        try:
            ast.parse(source, filename=os.path.basename(spec["path"]))
        except SyntaxError as exc:
            step("check syntax", started, "failed", f"line {exc.lineno}: {exc.msg}", index=2)
            fail(f"the rendered module does not parse: line {exc.lineno}: {exc.msg}")
        step("check syntax", started, message="the module parses", index=2)
    else:
        step("check syntax", started, "skipped", "fix_syntax is false", index=2)
    started = time.perf_counter()
    root = os.path.realpath(spec["root"])
    target = os.path.realpath(spec["path"])
    if not inside(root, target):
        fail(f"refusing to write outside the output folder: {spec['path']}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        with open(target, "w" if spec["force"] else "x", encoding="utf-8") as handle:
            handle.write(source)
    except FileExistsError:
        fail(f"{os.path.relpath(target, root)} exists; pass force=true to overwrite it")
    step("write file", started, message=os.path.relpath(target, root), index=3)
    report(
        "metrics",
        metrics={
            "source_lines": {"value": source.count("\n") + 1, "unit": "lines"},
            "source_bytes": {"value": len(source.encode()), "unit": "bytes"},
        },
    )
    step("done", time.perf_counter(), index=4)
    report("result", changes={"output_file": target})


if __name__ == "__main__":
    main()
