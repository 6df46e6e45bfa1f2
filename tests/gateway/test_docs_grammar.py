"""The query grammar's examples in docs/api.md run as written against a live gateway."""

import pathlib
import re
import shlex

import pytest

from tests.support import REPO

SECTION = "### The query grammar"


def _examples():
    """Return the URLs of the curl examples in the grammar section of docs/api.md."""
    text = pathlib.Path(REPO, "docs", "api.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line)[-1] for line in block.splitlines() if line.startswith("curl")]


@pytest.mark.parametrize("url", _examples())
def test_grammar_examples_answer(api, url):
    """Each documented example is a 200 whose items obey it."""
    path = url.replace("$API", "/api/db/test").replace("$GW", "")
    response = api.call("GET", path)
    assert response.status_code == 200, (path, response.text)
    body = response.json()
    if "fields=" in path:
        assert all(set(row) == {"run_id", "model_name", "duration"} for row in body["runs"])
    if "total=true" in path:
        assert body["total_is_exact"] is True and body["total"] >= body["count"]
