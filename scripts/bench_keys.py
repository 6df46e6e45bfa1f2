#!/usr/bin/env python3
"""What a shared key store costs a gateway: SQLite file beside PostgreSQL (docs/scale-out.md).

Per request a gateway authenticates the key (a dictionary lookup while the key's record is
cached, ``key_cache_ttl`` = 2 s; else one query) and counts it against the key's rate (one
upsert in the counters' store, every request). This measures both against both stores, on one
connection as a gateway worker uses them, plus PostgreSQL's server CPU per counted request
(from /proc, the server's processes), and prints a table.

    python scripts/bench_keys.py [--rounds 3000]

Starts its own PostgreSQL (tests/pg.py: initdb and pg_ctl, a temporary folder, a free port);
with PostgreSQL's durability settings at the server's defaults except ``fsync`` (the test server
runs without it), so a commit here costs less than on a disk that syncs.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import pg  # noqa: E402
from unified_api_server.gateway.keys import KeyStore  # noqa: E402
from unified_api_server.gateway.ratelimit import RateLimits  # noqa: E402


def per_call(function, rounds):
    """Return the median of five batches' microseconds per call of ``function``."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds // 5):
            function()
        batches.append((time.perf_counter() - started) / (rounds // 5) * 1e6)
    return statistics.median(batches)


def server_cpu(server):
    """Return the CPU seconds used so far by ``server``'s postmaster and its backends."""
    with open(os.path.join(server.data, "postmaster.pid"), encoding="ascii") as handle:
        postmaster = handle.readline().strip()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pid == postmaster or fields[1] == postmaster:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(location, counters, rounds, server=None):
    """Return ``{measure: microseconds}`` for the store at ``location``."""
    store = KeyStore(location, cache_ttl=0)
    store.create("bench", "read", rate=1e6, burst=10**9)
    settings = {"rate_limit_storage": "", "limits_db": counters, "keys_url": "",
                "default_rate": 100.0, "default_burst": 200}  # fmt: skip
    if location.startswith("postgresql"):
        settings["keys_url"] = location
    limits = RateLimits(settings)
    record = store.record_named("bench")
    results = {"key lookup (uncached)": per_call(lambda: store.record_named("bench"), rounds)}
    before = server_cpu(server) if server else None
    results["rate-limit count"] = per_call(lambda: limits.check(record), rounds)
    if server:
        used = server_cpu(server) - before
        results["PostgreSQL CPU per count"] = used / rounds * 1e6
    return results


def main():
    """Measure both stores and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    rounds = parser.parse_args().rounds
    folder = tempfile.mkdtemp(prefix="bench-keys-")
    sqlite = measure(
        os.path.join(folder, "keys.sqlite3"), os.path.join(folder, "limits.sqlite3"), rounds
    )
    with pg.running() as server:
        postgres = measure(server.create_database("keys"), None, rounds, server)
    print("| per request | SQLite file (one host) | PostgreSQL (shared) |")
    print("| --- | ---: | ---: |")
    for name in postgres:
        left = f"{sqlite[name]:.0f} us" if name in sqlite else "-"
        print(f"| {name} | {left} | {postgres[name]:.0f} us |")


if __name__ == "__main__":
    main()
