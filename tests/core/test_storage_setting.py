"""The storage setting: DuckLake's schema translation, and clear refusals of a bad setup.

The DuckLake tests proper (a real PostgreSQL catalog, replicas) are in tests/lake; these run
everywhere, the lake extra installed or not."""

import re
import subprocess
import sys

import duckdb
import pytest

from tests.support import REPO
from unified_api_server.core.data import storage
from unified_api_server.core.data.database import EmbeddedStorage, load_migrations
from unified_api_server.core.data.ddl import for_ducklake
from unified_api_server.core.data.migrate import TABLE
from unified_api_server.core.settings import ConfigError
from unified_api_server.core.web.app import component_settings
from unified_api_server.registry import BY_NAME, COMPONENTS

REFUSED = re.compile(r"PRIMARY\s+KEY|\bUNIQUE\b|SEQUENCE|\bINDEX\b|nextval|DEFAULT\s+\[", re.I)


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_every_migration_translates_to_what_ducklake_takes(component):
    """No key, sequence, index or list default is left, and the rest still applies: the same
    tables and columns as the migrations make in a DuckDB file."""
    plain, lake = duckdb.connect(), duckdb.connect()
    for _, _, sql in [(0, "table", TABLE), *load_migrations(component.migrations_package)]:
        translated = for_ducklake(sql)
        assert not REFUSED.search(re.sub(r"--[^\n]*", "", translated)), translated
        plain.execute(sql)
        lake.execute(translated)
    columns = "SELECT table_name, column_name, data_type FROM duckdb_columns() ORDER BY ALL"
    assert lake.execute(columns).fetchall() == plain.execute(columns).fetchall()


def test_storage_defaults_to_the_duckdb_file():
    """Without a setting, a component keeps its tables in its DuckDB file, as before."""
    values = component_settings(BY_NAME["test"]).load(environ={})
    assert values["storage"] == "duckdb"
    made = storage.make_storage(values)
    assert isinstance(made, EmbeddedStorage) and made.path == values["db_path"]


def test_ducklake_without_a_catalog_url_is_refused():
    """storage = ducklake names what it lacks."""
    values = component_settings(BY_NAME["test"]).load(flags={"storage": "ducklake"}, environ={})
    with pytest.raises(ConfigError, match="catalog_url"):
        storage.make_storage(values)


def test_a_component_on_an_unreachable_catalog_refuses_to_start(tmp_path):
    """The command exits at once with a message naming the problem, not a traceback loop."""
    result = subprocess.run(
        [sys.executable, "-m", "unified_api_server", "component", "test", "--port", "1",
         "--storage", "ducklake", "--catalog-url", "postgresql://nobody@127.0.0.1:1/none",
         "--data-path", str(tmp_path / "lake"), "--db-path", str(tmp_path / "t.duckdb")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    message = result.stderr[result.stderr.index("Error:") :]
    assert "lake extra" in message or "cannot reach the catalog" in message
    assert "Traceback" not in result.stderr
