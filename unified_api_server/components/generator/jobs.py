"""Generator jobs: render a model's pytest module from its family's template, in a child process.

Files are written only inside the configured output folder (see :mod:`.options`); the child
checks the final path again before writing.
"""

import json
import os
import sys

from flask import Response, jsonify

from unified_api_server.components import families
from unified_api_server.components.generator.options import (
    CONTEXT_DEFAULTS,
    BatchSchema,
    ModelSchema,
    check_context,
    inside,
    target_folder,
)
from unified_api_server.components.generator.render import TEMPLATE_FOLDER, template_path
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.child import PROJECT_ROOT
from unified_api_server.core.jobs.executor import Jobs, JobSpec, Plan, Submission
from unified_api_server.core.jobs.hardware import hardware_list
from unified_api_server.core.jobs.manager import data_folder
from unified_api_server.core.settings import Setting
from unified_api_server.core.web.resources import cursor


def _file_inside(root, path):
    """Tell whether ``path`` is a file inside the folder ``root`` (links resolved)."""
    return inside(root, path) and os.path.isfile(os.path.realpath(path))


class GeneratorJobs(Jobs):
    """Write a model's test module from its family's template: one task, or a batch of them."""

    settings = (
        Setting(
            "output_dir",
            str,
            "",
            "folder generated modules go to (default: generated/ beside the database)",
        ),
        Setting("templates_dir", str, "", "folder of templates overriding the built-in ones"),
        Setting("generator_timeout", int, 60, "seconds a generation task may take", minimum=1),
    )
    submissions = (
        Submission("/model", ModelSchema, "plan_model"),
        Submission("/batch", BatchSchema, "plan_batch"),
    )
    results_path = "result"

    @property
    def root(self):
        """Return the output folder: generated modules are written only inside it."""
        return data_folder(self.settings_values, "output_dir", "generated")

    @property
    def templates_dir(self):
        """Return the folder of custom templates, or None."""
        return self.settings_values.get("templates_dir") or None

    def plan_model(self, body):
        """Start generating one model's test module."""
        spec = self._spec(body["model_name"], body, hardware_list(body["hardware"]))
        message = (
            f"generating tests for {body['model_name']} from the "
            f"{spec.row['template_type']} template"
        )
        answer = {
            "message": message,
            "architecture": spec.row["architecture"],
            "template_type": spec.row["template_type"],
        }
        return Plan([spec], answer)

    def plan_batch(self, body):
        """Start generating several models' test modules, one after another, as a batch."""
        hardware = hardware_list(body["hardware"])
        specs = [self._spec(name, body, hardware) for name in body["model_names"]]
        group = {
            "name": f"generate {len(specs)} models",
            "metadata": {"model_names": body["model_names"]},
        }
        answer = {"task_ids": [s.item_id for s in specs], "model_count": len(specs)}
        return Plan(specs, answer, group=group, id_field="batch_id")

    def _spec(self, model_name, body, hardware):
        try:
            family, template, model_type = families.resolve(model_name, body["template_type"])
        except families.UnknownFamily as exc:
            raise ApiError(400, str(exc), {"model_name": model_name}) from None
        if template_path(template, self.templates_dir) is None:
            raise ApiError(400, f"no template {template!r} is installed")
        context = check_context(body["template_context"])
        root = self.root
        path = os.path.join(
            target_folder(root, body["output_dir"]), f"test_{families.sanitize(model_name)}.py"
        )
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
            "templates_dir": self.templates_dir,
            "tiny_config": families.TINY_CONFIGS[model_type],
        }
        row = {
            "model_name": model_name,
            "hardware": hardware,
            "template_type": template,
            "architecture": family,
            "output_file": path,
            "tags": [{"name": "model_type", "value": model_type}],
        }
        argv = [sys.executable, "-m", "unified_api_server.components.generator.render"]
        return JobSpec(
            row=row,
            argv=[*argv, json.dumps(task)],
            timeout=self.settings_values["generator_timeout"],
            cwd=PROJECT_ROOT,
        )

    def describe(self, item):
        """Say whether the task's module is in the output folder (never any other path)."""
        path = item.get("output_file")
        item["file_exists"] = bool(path) and _file_inside(self.root, path)
        return item

    def register_routes(self, bp, reads):
        """Add ``/file/<id>`` (a generated module's source) and ``/templates``."""

        @bp.get("/file/<task_id>")
        def source(task_id):
            """Return the generated module's source."""
            item = reads.require(cursor(), task_id)
            path = item.get("output_file")
            if item["status"] != "completed" or not path:
                raise ApiError(
                    409, f"task {task_id!r} is {item['status']}; its file exists once completed"
                )
            if not _file_inside(self.root, path):
                raise ApiError(404, f"the file of task {task_id!r} is no longer there")
            real = os.path.realpath(path)
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
                path = template_path(template, self.templates_dir)
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
                    "output_dir": os.path.basename(self.root),
                }
            )
