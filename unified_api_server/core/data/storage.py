"""Where a component's tables live: the settings that choose it, and the storage they build.

``storage = duckdb`` (the default) is one DuckDB file (``db_path``) that one process opens.
``storage = ducklake`` keeps the tables in DuckLake: the catalog in PostgreSQL (``catalog_url``)
and the data as Parquet in ``data_path``, which every replica of the component shares
(core/data/lake.py, docs/scale-out.md). The rest of the service does not know which it runs on.
"""

from unified_api_server.core.data.database import EmbeddedStorage
from unified_api_server.core.settings import ConfigError, Setting, data_path

STORAGES = ("duckdb", "ducklake")


def settings(component):
    """Return the storage settings of ``component``'s process."""
    return (
        Setting(
            "storage",
            str,
            "duckdb",
            "where the tables live: duckdb (one file, one process) or ducklake (a PostgreSQL "
            "catalog and a Parquet folder that several replicas share; the lake extra)",
            choices=STORAGES,
        ),
        Setting(
            "catalog_url",
            str,
            "",
            "storage = ducklake: the PostgreSQL database of the catalog, postgresql://user:"
            "password@host:port/database (one database per component)",
            secret=True,
        ),
        Setting(
            "data_path",
            str,
            data_path(f"{component.name}-lake"),
            "storage = ducklake: the folder of the tables' Parquet files, the same for every "
            "replica (shared storage when they run on several hosts)",
        ),
        Setting(
            "compact_interval",
            float,
            600.0,
            "storage = ducklake: seconds between compactions of small files (one replica at a "
            "time does it); 0: never",
            minimum=0,
        ),
    )


def make_storage(settings_values):
    """Return the storage the resolved settings name (a DuckDB file, or DuckLake)."""
    if settings_values["storage"] == "duckdb":
        return EmbeddedStorage(settings_values["db_path"], settings_values["lock_wait"])
    if not settings_values["catalog_url"]:
        raise ConfigError("storage = ducklake needs catalog_url (postgresql://...)")
    from unified_api_server.core.data.lake import LakeStorage  # needs the lake extra

    return LakeStorage(
        settings_values["catalog_url"],
        settings_values["data_path"],
        compact_interval=settings_values["compact_interval"],
    )
