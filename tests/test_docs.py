"""The documents stay true to the code: generated tables current, links alive, README short."""

import pathlib
import re

import pytest

from tests.support import REPO
from unified_api_server.tools.reference import REFERENCES, fill

DOCUMENTS = [
    "README.md",
    *sorted(str(p.relative_to(REPO)) for p in pathlib.Path(REPO, "docs").glob("*.md")),
]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_generated_tables_are_current(name):
    text = pathlib.Path(REPO, name).read_text(encoding="utf-8")
    assert fill(text, REFERENCES[name]) == text, f"{name} is stale: run scripts/render-docs"


def test_readme_is_short():
    assert len(pathlib.Path(REPO, "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("name", DOCUMENTS)
def test_relative_links_lead_somewhere(name):
    path = pathlib.Path(REPO, name)
    for target in re.findall(r"\]\(([^)#][^)]*?)(?:#[^)]*)?\)", path.read_text()):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{name}: broken link {target}"
