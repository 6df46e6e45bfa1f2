"""Generator jobs: render a model's pytest module from its family's template, in a child process.

Files are written only inside the configured output folder: model names are validated and
sanitised into file names, ``output_dir`` may only name a sub-folder of that folder, and the child
checks the final path again before writing.
"""

import json
import os
import re
import sys
import uuid

from flask import Response, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates

from unified_api_server.components import families
from unified_api_server.components.generator.render import TEMPLATE_FOLDER, template_path
from unified_api_server.core.config import Setting
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.child import PROJECT_ROOT
from unified_api_server.core.jobs.manager import JobSpec
from unified_api_server.core.jobs.status import data_folder
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.jobs import created, detect_hardware, hardware_list, job_blueprint
from unified_api_server.core.web.views import cursor

SETTINGS = (
    Setting(
        "output_dir",
        str,
        "",
        "folder generated modules go to (default: generated/ beside the database)",
    ),
    Setting("templates_dir", str, "", "folder of templates overriding the built-in ones"),
    Setting("generator_timeout", int, 60, "seconds a generation task may take", minimum=1),
)
CONTEXT_DEFAULTS = {
    "sequence_length": 8,
    "batch_size": 2,
    "batch_sizes": [1, 2],
    "config": {},
    "description": "",
}
_SUB_FOLDER = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


def _check_name(value):
    if not families.valid_model_name(value):
        raise ValidationError(
            "must be a model id such as 'bert-base-uncased' or 'org/name' "
            "(letters, digits, '.', '_', '-'; no '..', no other '/')"
        )


class _Options(Schema):
    hardware = fields.Raw(load_default=None)
    output_dir = fields.String(load_default=None, validate=validate.Length(max=200))
    force = fields.Boolean(load_default=False)
    template_type = fields.String(load_default=None)
    template_context = fields.Dict(load_default=dict)
    fix_syntax = fields.Boolean(load_default=True)


class ModelSchema(_Options):
    """The body of ``POST /api/generator/model``."""

    model_name = fields.String(required=True, validate=_check_name)


class BatchSchema(_Options):
    """The body of ``POST /api/generator/batch``."""

    model_names = fields.List(
        fields.String(validate=_check_name), required=True, validate=validate.Length(min=1, max=100)
    )

    @validates("model_names")
    def _distinct(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("names must be distinct")


def check_context(context):
    """Validate ``template_context``; return it with defaults filled in."""
    unknown = sorted(set(context) - set(CONTEXT_DEFAULTS))
    errors = {}
    if unknown:
        errors["_unknown"] = [
            f"unknown key(s) {', '.join(unknown)}; use {', '.join(CONTEXT_DEFAULTS)}"
        ]
    merged = {**CONTEXT_DEFAULTS, **context}
    for key, top in (("sequence_length", 512), ("batch_size", 64)):
        value = merged[key]
        if type(value) is not int or not 1 <= value <= top:
            errors[key] = [f"must be an integer 1..{top}"]
    sizes = merged["batch_sizes"]
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(type(b) is int and 1 <= b <= 64 for b in sizes)
    ):
        errors["batch_sizes"] = ["must be a list of integers 1..64"]
    config = merged["config"]
    if not isinstance(config, dict) or not all(
        isinstance(v, (int, float, str, bool)) and k.isidentifier() for k, v in config.items()
    ):
        errors["config"] = ["must map configuration names to numbers, strings or booleans"]
    if not isinstance(merged["description"], str) or len(merged["description"]) > 2000:
        errors["description"] = ["must be text of at most 2000 characters"]
    if errors:
        raise ValidationError({"template_context": errors})
    return merged


def target_folder(root, output_dir):
    """Return the folder to write into: ``root`` or a sub-folder of it named by ``output_dir``."""
    if not output_dir:
        return root
    parts = [p for p in output_dir.replace("\\", "/").split("/") if p not in ("", ".")]
    if (
        output_dir.startswith(("/", "\\", "~"))
        or not parts
        or any(p == ".." or not _SUB_FOLDER.match(p) for p in parts)
    ):
        raise ValidationError(
            {
                "output_dir": [
                    "must be a relative sub-folder of the output folder (letters, digits, '.', '_', '-' "
                    "and '/'; no '..', no absolute path)"
                ]
            }
        )
    folder = os.path.realpath(os.path.join(root, *filter(None, parts)))
    if os.path.commonpath([os.path.realpath(root), folder]) != os.path.realpath(root):
        raise ValidationError({"output_dir": ["escapes the output folder"]})
    return folder


def create_blueprint(component, manager, settings):
    """Return the Generator's job routes."""
    bp = job_blueprint(component, manager)
    root = data_folder(settings, "output_dir", "generated")
    templates_dir = settings.get("templates_dir") or None
    model_schema, batch_schema = ModelSchema(), BatchSchema()

    def spec_for(model_name, body, hardware):
        try:
            family, template, model_type = families.resolve(model_name, body["template_type"])
        except families.UnknownFamily as exc:
            raise ApiError(400, str(exc), {"model_name": model_name}) from None
        if template_path(template, templates_dir) is None:
            raise ApiError(400, f"no template {template!r} is installed")
        context = check_context(body["template_context"])
        folder = target_folder(root, body["output_dir"])
        path = os.path.join(folder, f"test_{families.sanitize(model_name)}.py")
        if os.path.exists(path) and not body["force"]:
            raise ApiError(
                409,
                f"{os.path.relpath(path, root)} exists; pass force=true to overwrite it",
                {"model_name": model_name},
            )
        task = {
            "model_name": model_name,
            "model_type": model_type,
            "family": family,
            "template": template,
            "context": context,
            "path": path,
            "root": root,
            "force": body["force"],
            "fix_syntax": body["fix_syntax"],
            "templates_dir": templates_dir,
            "tiny_config": families.TINY_CONFIGS[model_type],
        }
        return JobSpec(
            row={
                "model_name": model_name,
                "hardware": hardware,
                "template_type": template,
                "architecture": family,
                "output_file": path,
                "tags": [{"name": "model_type", "value": model_type}],
            },
            argv=[
                sys.executable,
                "-m",
                "unified_api_server.components.generator.render",
                json.dumps(task),
            ],
            timeout=settings["generator_timeout"],
            cwd=PROJECT_ROOT,
        )

    @bp.post("/model")
    def generate_model():
        """Start generating one model's test module."""
        body = model_schema.load(json_body())
        spec = spec_for(body["model_name"], body, hardware_list(body["hardware"]))
        manager.submit([spec])
        status = manager.require_status(cursor(), spec.item_id)
        return created(
            {
                "task_id": spec.item_id,
                "status": "initializing",
                "message": f"generating tests for {body['model_name']} from the "
                f"{spec.row['template_type']} template",
                "started_at": status["started_at"],
                "architecture": spec.row["architecture"],
                "template_type": spec.row["template_type"],
            },
            f"/api/generator/status/{spec.item_id}",
        )

    @bp.post("/batch")
    def generate_batch():
        """Start generating several models' test modules, one after another, as a batch."""
        body = batch_schema.load(json_body())
        hardware = hardware_list(body["hardware"])
        specs = [spec_for(name, body, hardware) for name in body["model_names"]]
        batch_id = str(uuid.uuid4())
        manager.submit(
            specs,
            group_id=batch_id,
            group={
                "name": f"generate {len(specs)} models",
                "metadata": {"model_names": body["model_names"]},
            },
        )
        status = manager.require_status(cursor(), batch_id)
        return created(
            {
                "batch_id": batch_id,
                "task_ids": [s.item_id for s in specs],
                "model_count": len(specs),
                "started_at": status["started_at"],
                "status": "initializing",
            },
            f"/api/generator/status/{batch_id}",
        )

    @bp.get("/result/<task_id>")
    def result(task_id):
        """Return a task with its steps, metrics and output file."""
        item = manager.repository.require(cursor(), task_id)
        item.update(
            {k: v for k, v in manager.require_status(cursor(), task_id).items() if k not in item}
        )
        path = item.get("output_file")
        item["file_exists"] = bool(path) and os.path.isfile(path)
        return jsonify(item)

    @bp.get("/file/<task_id>")
    def source(task_id):
        """Return the generated module's source."""
        item = manager.repository.require(cursor(), task_id)
        path = item.get("output_file")
        if item["status"] != "completed" or not path:
            raise ApiError(
                409, f"task {task_id!r} is {item['status']}; its file exists once it has completed"
            )
        real = os.path.realpath(path)
        if os.path.commonpath([os.path.realpath(root), real]) != os.path.realpath(
            root
        ) or not os.path.isfile(real):
            raise ApiError(404, f"the file of task {task_id!r} is no longer there")
        with open(real, encoding="utf-8") as handle:
            text = handle.read()
        response = Response(text, mimetype="text/x-python")
        response.headers["Content-Disposition"] = f'inline; filename="{os.path.basename(real)}"'
        return response

    @bp.get("/templates")
    def templates():
        """List the templates, the family each serves and the model types it knows."""
        found = []
        for family, (template, model_types) in families.FAMILIES.items():
            path = template_path(template, templates_dir)
            found.append(
                {
                    "name": template,
                    "family": family,
                    "model_types": list(model_types),
                    "custom": bool(path) and not path.startswith(TEMPLATE_FOLDER),
                    "available": path is not None,
                }
            )
        return jsonify(
            {
                "templates": found,
                "context_keys": CONTEXT_DEFAULTS,
                "output_dir": os.path.basename(root),
            }
        )

    @bp.get("/hardware")
    def hardware():
        """List the devices generated tests can target and whether this machine has them."""
        return jsonify({"hardware": detect_hardware()})

    return bp
