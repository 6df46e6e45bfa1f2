"""Custom templates: a broken one fails the task with the syntax error (fix_syntax)."""

import pytest

from tests.support import wait_until
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME


@pytest.fixture
def generator(tmp_path):
    """Return a Generator test client whose bert template is broken."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "bert.py.tmpl").write_text("def make_inputs(torch, config, batch_size, device)\n")
    app = create_app(
        BY_NAME["generator"],
        {"db_path": str(tmp_path / "generator.duckdb"), "templates_dir": str(templates)},
    )
    yield app.test_client()
    app.extensions["component"].database.close()


def _wait(client, task_id):
    def ended():
        body = client.get(f"/api/generator/status/{task_id}").get_json()
        return body if body["status"] not in ("initializing", "running") else None

    return wait_until(ended, message="the task to end")


def test_broken_template_fails_with_the_syntax_error(generator, tmp_path):
    """fix_syntax: the rendered module does not parse, so the task fails and nothing is written."""
    task = generator.post("/api/generator/model", json={"model_name": "bert-base-uncased"})
    status = _wait(generator, task.get_json()["task_id"])
    assert status["status"] == "failed"
    assert "does not parse" in status["error"] and "line" in status["error"]
    assert not (tmp_path / "generated" / "test_bert_base_uncased.py").exists()
    custom = {
        t["name"]: t["custom"]
        for t in generator.get("/api/generator/templates").get_json()["templates"]
    }
    assert custom["bert"] is True and custom["gpt2"] is False


def test_without_fix_syntax_the_file_is_written(generator, tmp_path):
    """fix_syntax false: no check, the file is written as rendered."""
    task = generator.post(
        "/api/generator/model", json={"model_name": "bert-base-uncased", "fix_syntax": False}
    )
    assert _wait(generator, task.get_json()["task_id"])["status"] == "completed"
    assert (tmp_path / "generated" / "test_bert_base_uncased.py").exists()


def test_two_apps_of_one_component_keep_their_own_settings(tmp_path):
    """Jobs are bound per app: each generator app writes into its own output folder."""
    apps = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        apps[name] = create_app(
            BY_NAME["generator"], {"db_path": str(tmp_path / name / "generator.duckdb")}
        )
    try:
        client = apps["a"].test_client()
        task = client.post("/api/generator/model", json={"model_name": "bert-base-uncased"})
        assert _wait(client, task.get_json()["task_id"])["status"] == "completed"
        assert (tmp_path / "a" / "generated" / "test_bert_base_uncased.py").exists()
        assert not (tmp_path / "b" / "generated").exists()
    finally:
        for app in apps.values():
            app.extensions["component"].database.close()
