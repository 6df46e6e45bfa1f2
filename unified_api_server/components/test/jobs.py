"""Test Suite jobs: ``POST /api/test/run`` runs pytest on a model's test module in a child process.

The module is ``test_<model>.py`` (the model name sanitised) in the configured tests folder, or
else the newest one the generator wrote into its output folder. Each test becomes a step as it
finishes, numeric ``record_property`` values become run metrics, totals become the run's results.
"""

import glob
import json
import os
import re
import sys

from flask import jsonify
from marshmallow import Schema, ValidationError, fields, validate

from unified_api_server.components import families
from unified_api_server.components.test.runner import TYPES
from unified_api_server.core.errors import ApiError
from unified_api_server.core.jobs.executor import Jobs, JobSpec, Plan, Submission
from unified_api_server.core.jobs.hardware import hardware_list
from unified_api_server.core.jobs.manager import data_folder
from unified_api_server.core.schemas import identifier_field
from unified_api_server.core.settings import Setting

_MODEL_LINE = re.compile(r'^MODEL_NAME = "([^"\n]+)"', re.MULTILINE)


class RunSchema(Schema):
    """The body of ``POST /api/test/run``."""

    model_name = families.model_name_field(required=True)
    hardware = fields.Raw(load_default=None)
    test_type = fields.String(load_default="basic", validate=validate.OneOf(sorted(TYPES)))
    timeout = fields.Integer(load_default=300, strict=True, validate=validate.Range(min=1))
    save_results = fields.Boolean(load_default=True)
    batch_id = identifier_field(load_default=None)  # the run joins this (existing) batch


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
        pattern = os.path.join(glob.escape(folder), "**", "test_*.py")
        for path in sorted(glob.glob(pattern, recursive=True)):
            with open(path, encoding="utf-8", errors="replace") as handle:
                match = _MODEL_LINE.search(handle.read(4096))
            name = match.group(1) if match else os.path.basename(path)[5:-3]
            modules.append(
                {"model_name": name, "source": source, "module": os.path.relpath(path, folder)}
            )
    return modules


class TestJobs(Jobs):
    """Run a model's test module with pytest: each test a step, its totals the results."""

    __test__ = False  # not a pytest test class, whatever its name says
    settings = (
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
    submissions = (Submission("/run", RunSchema, "plan_run"),)

    def folders(self):
        """Return the hand-written tests folder and the generator's output folder."""
        values = self.settings_values
        return (
            data_folder(values, "tests_dir", "tests"),
            data_folder(values, "generated_dir", "generated"),
        )

    def plan_run(self, body):
        """Start a test run of a model's test module; answer at once with its id."""
        hardware = hardware_list(body["hardware"])
        limit = self.settings_values["max_test_timeout"]
        if body["timeout"] > limit:
            raise ValidationError({"timeout": [f"must be at most {limit} s"]})
        module = find_module(self.folders(), body["model_name"])
        if module is None:
            raise ApiError(
                404,
                f"no test module for {body['model_name']!r}: generate one with "
                "POST /api/generator/model or add test_"
                f"{families.sanitize(body['model_name'])}.py to the tests folder",
            )
        spec = JobSpec(
            row={
                "model_name": body["model_name"],
                "hardware": hardware,
                "test_type": body["test_type"],
                "tags": [
                    {"name": "module", "value": module},
                    {"name": "save_results", "value": str(body["save_results"]).lower()},
                ],
                **({"batch_id": body["batch_id"]} if body["batch_id"] else {}),
            },
            argv=[
                sys.executable,
                "-m",
                "unified_api_server.components.test.runner",
                json.dumps(
                    {
                        "module": module,
                        "test_type": body["test_type"],
                        "hardware": hardware,
                        "ini": self._ini_file(),
                    }
                ),
            ],
            timeout=body["timeout"],
            # Plugins installed here stay out: a run sees only the module and our reporter.
            env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            cwd=os.path.dirname(module),
        )
        message = (
            f"running {body['test_type']} tests of {body['model_name']} on {', '.join(hardware)}"
        )
        return Plan([spec], {"message": message, "module": os.path.basename(module)})

    def _ini_file(self):
        """Return an empty pytest ini file, so a module's own folder configures nothing."""
        ini = os.path.join(self.manager.jobs_dir, "pytest.ini")
        os.makedirs(self.manager.jobs_dir, exist_ok=True)
        if not os.path.exists(ini):
            with open(ini, "w", encoding="utf-8") as handle:
                handle.write("[pytest]\n")
        return ini

    def register_routes(self, bp, reads):
        """Add ``/models`` (the test modules there are) and ``/types`` (the test types)."""

        @bp.get("/models")
        def models():
            """List the models that have a test module (hand-written or generated)."""
            found = list_modules(self.folders())
            return jsonify({"models": found, "count": len(found)})

        @bp.get("/types")
        def types():
            """List the test types and what each runs."""
            return jsonify({"types": [{"name": k, "description": v} for k, v in TYPES.items()]})
