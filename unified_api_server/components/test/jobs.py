"""Test Suite jobs: ``POST /api/test/run`` runs pytest on a model's test module in a child process.

The module is ``test_<model>.py`` (the model name sanitised) in the configured tests folder, or
else the newest one the generator wrote into its output folder. Each test becomes a step as it
finishes, numeric ``record_property`` values become run metrics, totals become the run's results.
"""

import glob
import os
import re
import sys

from flask import jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates

from unified_api_server.components import families
from unified_api_server.components.test.runner import TYPES
from unified_api_server.core.config import Setting
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.manager import JobSpec
from unified_api_server.core.jobs.status import data_folder
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.jobs import created, detect_hardware, hardware_list, job_blueprint
from unified_api_server.core.web.views import cursor

SETTINGS = (
    Setting(
        "tests_dir",
        str,
        "",
        "folder of hand-written test modules (default: tests/ beside the database)",
    ),
    Setting(
        "generated_dir",
        str,
        "",
        "the generator's output folder (default: generated/ beside the database)",
    ),
    Setting("max_test_timeout", int, 3600, "largest timeout a run may ask for (s)", minimum=1),
)
_MODEL_LINE = re.compile(r'^MODEL_NAME = "([^"\n]+)"', re.MULTILINE)


class RunSchema(Schema):
    """The body of ``POST /api/test/run``."""

    model_name = fields.String(required=True)
    hardware = fields.Raw(load_default=None)
    test_type = fields.String(load_default="basic", validate=validate.OneOf(sorted(TYPES)))
    timeout = fields.Integer(load_default=300, strict=True, validate=validate.Range(min=1))
    save_results = fields.Boolean(load_default=True)
    batch_id = fields.String(load_default=None)

    @validates("model_name")
    def _model_name(self, value, **kwargs):
        if not families.valid_model_name(value):
            raise ValidationError(
                "must be a model id such as 'bert-base-uncased' or 'org/name' "
                "(letters, digits, '.', '_', '-'; no '..')"
            )


def find_module(folders, model_name):
    """Return the test module of ``model_name`` in ``folders`` (first folder wins), or None."""
    file_name = f"test_{families.sanitize(model_name)}.py"
    tests_dir, generated_dir = folders
    direct = os.path.join(tests_dir, file_name)
    if os.path.isfile(direct):
        return direct
    found = glob.glob(os.path.join(glob.escape(generated_dir), "**", file_name), recursive=True)
    found = [f for f in found if os.path.realpath(f).startswith(os.path.realpath(generated_dir))]
    return max(found, key=os.path.getmtime) if found else None


def list_modules(folders):
    """Return the test modules available, with the model each one tests."""
    modules = []
    for source, folder in zip(("tests", "generated"), folders):
        for path in sorted(
            glob.glob(os.path.join(glob.escape(folder), "**", "test_*.py"), recursive=True)
        ):
            with open(path, encoding="utf-8", errors="replace") as handle:
                match = _MODEL_LINE.search(handle.read(4096))
            name = match.group(1) if match else os.path.basename(path)[5:-3]
            modules.append(
                {"model_name": name, "source": source, "module": os.path.relpath(path, folder)}
            )
    return modules


def create_blueprint(component, manager, settings):
    """Return the Test Suite's job routes."""
    bp = job_blueprint(component, manager)
    folders = (
        data_folder(settings, "tests_dir", "tests"),
        data_folder(settings, "generated_dir", "generated"),
    )
    schema = RunSchema()

    @bp.post("/run")
    def run():
        """Start a test run of a model's test module; answer at once with its id."""
        body = schema.load(json_body())
        hardware = hardware_list(body["hardware"])
        if body["timeout"] > settings["max_test_timeout"]:
            raise ValidationError(
                {"timeout": [f"must be at most {settings['max_test_timeout']} s"]}
            )
        module = find_module(folders, body["model_name"])
        if module is None:
            raise ApiError(
                404,
                f"no test module for {body['model_name']!r}: generate one with "
                "POST /api/generator/model or add test_"
                f"{families.sanitize(body['model_name'])}.py to the tests folder",
            )
        ini = os.path.join(manager.jobs_dir, "pytest.ini")
        os.makedirs(manager.jobs_dir, exist_ok=True)
        if not os.path.exists(ini):
            with open(ini, "w", encoding="utf-8") as handle:
                handle.write("[pytest]\n")
        spec = JobSpec(
            row={
                "model_name": body["model_name"],
                "hardware": hardware,
                "test_type": body["test_type"],
                "tags": [
                    {"name": "module", "value": module},
                    {"name": "save_results", "value": str(body["save_results"]).lower()},
                ],
            },
            argv=[
                sys.executable,
                "-m",
                "unified_api_server.components.test.runner",
                module,
                "--test-type",
                body["test_type"],
                "--hardware",
                ",".join(hardware),
                "--ini",
                ini,
            ],
            timeout=body["timeout"],
            # Plugins installed here stay out: a run sees only the module and our reporter.
            env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            cwd=os.path.dirname(module),
        )
        manager.submit([spec])
        status = manager.require_status(cursor(), spec.item_id)
        return created(
            {
                "run_id": spec.item_id,
                "status": "initializing",
                "message": f"running {body['test_type']} tests of "
                f"{body['model_name']} on {', '.join(hardware)}",
                "started_at": status["started_at"],
                "module": os.path.basename(module),
            },
            f"/api/test/status/{spec.item_id}",
        )

    @bp.get("/results/<run_id>")
    def results(run_id):
        """Return a run with its steps, metrics, tags and results."""
        item = manager.repository.require(cursor(), run_id)
        item.update(
            {k: v for k, v in manager.require_status(cursor(), run_id).items() if k not in item}
        )
        return jsonify(item)

    @bp.get("/models")
    def models():
        """List the models that have a test module (hand-written or generated)."""
        found = list_modules(folders)
        return jsonify({"models": found, "count": len(found)})

    @bp.get("/hardware")
    def hardware():
        """List the devices tests can run on and whether this machine has them."""
        return jsonify({"hardware": detect_hardware()})

    @bp.get("/types")
    def types():
        """List the test types and what each runs."""
        return jsonify({"types": [{"name": k, "description": v} for k, v in TYPES.items()]})

    return bp
