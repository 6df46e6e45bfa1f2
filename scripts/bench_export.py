"""Measure exports through a component beside DuckDB's own COPY of the same rows.

    python scripts/bench_export.py [--rows 100000] [--component benchmark] [--repeat 5]

Fills a fresh database with ``--rows`` generated rows (``bench_query.fill``), copies it, starts
the real component service (gunicorn) on one copy and opens the other directly in DuckDB. For
each format it downloads ``POST /export?format=X`` whole and runs ``COPY (SELECT ...) TO 'file'``
of the very SELECT the export runs (built by the same code), alternating the two in one run, so
the ratio (DuckDB's time over the API's: 1.0 is as fast as DuckDB) is taken side by side.
Targets: CSV and NDJSON at least 0.5, Parquet at least 0.8.
"""

import argparse
import os
import sys
from pathlib import Path

import requests
from werkzeug.datastructures import MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_query import fill, paired, served_beside_duckdb

from unified_api_server.core.data.export import export_query
from unified_api_server.core.web.args import parse_query
from unified_api_server.registry import BY_NAME

# The API's format, DuckDB's COPY options for the same kind of file, and the target ratio.
FORMATS = (
    ("csv", "FORMAT csv, HEADER true", 0.5),
    ("ndjson", "FORMAT json", 0.5),
    ("parquet", "FORMAT parquet", 0.8),
)


def download(session, url, fmt):
    """Download one export whole and return its size in bytes."""
    size = 0
    with session.post(url, params={"format": fmt}, stream=True) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            size += len(chunk)
    return size


def main():
    """Fill, serve and measure; print one line per format."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--component", default="benchmark")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    component = BY_NAME[options.component]
    fill_file = lambda path: fill(path, component, options.rows)  # noqa: E731
    with served_beside_duckdb(component.name, "bench-export-", fill_file) as (
        service,
        direct,
        folder,
    ):
        print(f"{options.rows:,} rows of {component.name}; median of {options.repeat}")
        measure(component, options.repeat, service, direct, folder / "copy.out")


def measure(component, repeat, service, direct, target):
    """Time each format's export beside DuckDB's COPY of the same rows; print one line each."""
    session = requests.Session()
    url = f"{service.url}/api/{component.name}/db/export"
    sql, params, _ = export_query(component, parse_query(component, MultiDict(), "export"), None)
    heading = ("format", "api ms", "COPY ms", "api MB", "COPY MB", "ratio")
    print(f"{heading[0]:<8} " + " ".join(f"{h:>8}" for h in heading[1:5]) + " ratio target")
    for fmt, copy_options, goal in FORMATS:
        sizes = {}

        def api(fmt=fmt, sizes=sizes):
            sizes["api"] = download(session, url, fmt)

        def copy(copy_options=copy_options, sizes=sizes):
            direct.execute(f"COPY ({sql}) TO '{target}' ({copy_options})", params)
            sizes["copy"] = target.stat().st_size

        api_s, copy_s = paired(api, copy, repeat)
        ratio = copy_s / api_s
        print(
            f"{fmt:<8} {api_s * 1e3:8.0f} {copy_s * 1e3:8.0f} {sizes['api'] / 1e6:8.1f} "
            f"{sizes['copy'] / 1e6:8.1f} {ratio:6.2f} {goal:.1f} "
            f"{'ok' if ratio >= goal else 'MISSED'}",
            flush=True,
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
