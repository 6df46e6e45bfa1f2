"""Measure a point read's CPU beside the CPU of the very statements it runs.

    python scripts/bench_point_read.py [--component benchmark] [--items 20000] [--reads 2000]

Loads ``--items`` demo items of the component, with their child rows, into a fresh DuckDB file
through the component's own API (in-process), and copies the file. On one copy it starts the
real service (gunicorn) and asks it ``GET /api/{c}/db/{entity}/{id}`` for items that have
children, over one kept-alive connection; the CPU the service's processes spent (user + system,
from /proc, every thread counted) divided by the reads is the API's cost of one read. On the
other copy it replays the statements one such read runs (recorded from the component's timed
cursor) with ``fetchall()``, and counts this process's CPU the same way. The difference is the
API's overhead over its raw queries: HTTP, routing, the request log, metrics, the time limit,
shaping the item and writing its JSON. Target: at most 0.5 ms of CPU.

The two are measured in turn, several rounds, alternating; CPU time, not wall time, so other
work on the machine moves the figures less than it moves latencies.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_query import KeepAlive, served_beside_duckdb

from unified_api_server.core import metrics
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME
from unified_api_server.tools.demo_data import DemoData

TICKS = os.sysconf("SC_CLK_TCK")
# Children for items whose demo data has none (the benchmark's): a named metric and two tags.
EXTRA_CHILDREN = {
    "metrics": {"energy_j": {"value": 1.5, "unit": "J"}},
    "tags": {"suite": "nightly", "host": "ci-1"},
}


def load(component, path, items, with_children):
    """Fill ``path`` with demo items through the in-process API; return ids with children."""
    app = create_app(component, {"db_path": str(path)})
    client = app.test_client()
    base = f"/api/{component.name}/db"
    rows, children = [], []
    for row, kids in DemoData(seed=7, scale=items / component.demo.size).items(component):
        kept = {k: v for k, v in row.items() if v is not None and k != "batch_id"}
        rows.append(orjson.dumps(kept))
        if len(children) < with_children:
            extra = {k: v for k, v in EXTRA_CHILDREN.items() if k in component.child_by_key}
            children.append((row[component.id_column], kids or extra))
    answer = client.post(
        f"{base}/{component.entities}/bulk",
        data=b"\n".join(rows),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 201, answer.get_json()
    answer.close()
    for item_id, kids in children:
        for key, child_rows in kids.items():
            answer = client.post(f"{base}/{component.entity}/{item_id}/{key}", json=child_rows)
            assert answer.status_code in (200, 201), answer.get_json()
    statements = record(client, f"{base}/{component.entity}/{children[0][0]}")
    app.extensions["component"].database.close()
    return [item_id for item_id, _ in children], statements


def record(client, path):
    """Return the statements (sql, params) one GET of ``path`` runs, through the timed cursor."""
    seen = []
    plain = metrics.TimedCursor.execute

    def noted(self, *args, **kwargs):
        seen.append(args)
        return plain(self, *args, **kwargs)

    metrics.TimedCursor.execute = noted
    try:
        assert client.get(path).status_code == 200
    finally:
        metrics.TimedCursor.execute = plain
    return seen


def tree_cpu(pid):
    """Return the CPU seconds (user + system) of ``pid`` and every process below it."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(child) for child in children]
    return total


def api_cpu(service, api, ids, reads):
    """Return the service's CPU seconds per read over ``reads`` reads of ``ids``."""
    before = tree_cpu(service.process.pid)
    for index in range(reads):
        api.get(path=f"/{ids[index % len(ids)]}")
    return (tree_cpu(service.process.pid) - before) / reads


def direct_cpu(connection, statements, ids, reads):
    """Return this process's CPU seconds per replay of ``statements`` (the id swapped in)."""
    before = time.process_time()
    for index in range(reads):
        item_id = ids[index % len(ids)]
        for sql, *params in statements:
            values = [item_id if p == ids[0] else p for p in (params[0] if params else [])]
            connection.execute(sql, values).fetchall()
    return (time.process_time() - before) / reads


def main():
    """Load, serve, replay and print the CPU per read, both ways, and the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--component", default="benchmark")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    component = BY_NAME[options.component]
    loaded = {}

    def fill_file(path):
        loaded["ids"], loaded["statements"] = load(component, path, options.items, 200)

    with served_beside_duckdb(component.name, "bench-point-", fill_file) as (service, direct, _):
        ids, statements = loaded["ids"], loaded["statements"]
        api = KeepAlive(f"{service.url}/api/{component.name}/db/{component.entity}")
        api_cpu(service, api, ids, 200), direct_cpu(direct, statements, ids, 200)  # warm
        api_s, direct_s = [], []
        for _ in range(options.rounds):
            api_s.append(api_cpu(service, api, ids, options.reads))
            direct_s.append(direct_cpu(direct, statements, ids, options.reads))
    api_ms, direct_ms = statistics.median(api_s) * 1e3, statistics.median(direct_s) * 1e3
    print(f"{component.name}: {len(statements)} statements a read, median of {options.rounds}")
    print(f"  API {api_ms:.3f} ms CPU a read, its statements {direct_ms:.3f} ms")
    verdict = "met" if api_ms - direct_ms <= 0.5 else "MISSED"
    print(f"  overhead {api_ms - direct_ms:.3f} ms of CPU (target <= 0.5 ms: {verdict})")


if __name__ == "__main__":
    main()
