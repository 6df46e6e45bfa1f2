#!/usr/bin/env python3
"""Measure one authenticated pass-through request three ways: direct, through the gateway, nginx.

Starts the suite with the launcher (test component, gateway, nginx) on free ports in a temporary
data dir, loads a few rows, then drives two requests with wrk (or a Python load generator when
wrk is missing): a list, ``GET .../test/db/runs?limit=10``, and a point read,
``GET .../test/db/run/{id}`` (a run with steps, metrics and tags), and prints req/s, p99 and the
ratios to direct. "direct" sends the run's internal credential, as the gateway and nginx do;
the key has a rate limit far above what is measured, so every request pays for counting it.
Targets: nginx >= 0.95x direct, gateway >= 0.85x direct, on both.

    python scripts/bench_passthrough.py [--duration 10] [--connections 32] [--threads 2]
        [--endpoints list,item]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# path -> (service, prefix): the gateway and nginx serve a component's API under /api/db/test.
TARGETS = {
    "direct": ("test_api", "/api/test/db"),
    "gateway": ("gateway", "/api/db/test"),
    "nginx": ("nginx", "/api/db/test"),
}
ENDPOINTS = {"list": "/runs?limit=10", "item": "/run/{run_id}"}
GATEWAY_TARGET, NGINX_TARGET = 0.85, 0.95


def free_ports(count):
    """Return ``count`` free TCP ports."""
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def start_suite(workdir, key_rate):
    """Start the launcher; return (process, ports, key, internal token)."""
    ports = dict(zip(("test_api", "gateway", "nginx"), free_ports(3)))
    config = {
        "test_api": {"port": ports["test_api"]},
        "generator_api": {"enabled": False},
        "benchmark_api": {"enabled": False},
        "gateway": {"port": ports["gateway"]},
    }
    config_path = os.path.join(workdir, "bench.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    argv = [
        sys.executable,
        "-m",
        "unified_api_server",
        "run",
        "--config",
        config_path,
        "--data-dir",
        os.path.join(workdir, "data"),
        "--nginx",
        str(ports["nginx"]),
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    key = None
    for line in process.stdout:
        if line.strip().startswith("uas_"):
            key = line.strip()
        if "is ready" in line:
            break
    if process.poll() is not None or key is None:
        raise SystemExit("the suite did not start")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    data = os.path.join(workdir, "data")
    sys.path.insert(0, ROOT)
    from unified_api_server.gateway.keys import KeyStore

    key = KeyStore(os.path.join(data, "keys.sqlite3")).create(
        "bench", "read,write", rate=key_rate, burst=10**9
    )
    with open(
        os.path.join(data, "run", "nginx", "internal_token.conf"), encoding="utf-8"
    ) as handle:
        token = handle.read().split('"')[1]
    return process, ports, key, token


def seed_rows(port, key, count=200):
    """Insert a few test runs so the measured request returns real rows."""
    rows = "\n".join(
        json.dumps(
            {
                "model_name": f"bench-model-{i % 7}",
                "hardware": ["cpu"],
                "status": "completed",
                "duration": 1.0 + i,
            }
        )
        for i in range(count)
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/api/db/test/runs/bulk",
        body=rows,
        headers={"X-API-Key": key, "Content-Type": "application/x-ndjson"},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise SystemExit(f"seeding rows failed: {response.status}")
    return add_children(connection, key)


def add_children(connection, key):
    """Give the newest run steps, metrics and tags; return its id (the point read's item)."""
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    connection.request("GET", "/api/db/test/runs?limit=1", headers=headers)
    run_id = json.loads(connection.getresponse().read())["runs"][0]["run_id"]
    children = {
        "steps": [{"name": f"step-{i}", "status": "passed", "duration": 0.5} for i in range(5)],
        "metrics": {"accuracy": {"value": 0.9, "unit": "ratio"}, "loss": {"value": 0.1}},
        "tags": {"suite": "nightly", "host": "ci-1"},
    }
    for name, rows in children.items():
        body = json.dumps(rows)
        connection.request("POST", f"/api/db/test/run/{run_id}/{name}", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            raise SystemExit(f"adding {name} failed: {response.status}")
    return run_id


def run_wrk(url, headers, duration, connections, threads):
    """Run wrk; return (req/s, p99 ms)."""
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            *header_args,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise SystemExit(f"non-2xx answers from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def run_python(url, headers, duration, connections, threads):
    """A plain Python load generator (threads, keep-alive); returns (req/s, p99 ms)."""
    del threads
    host, port_path = url.split("//", 1)[1].split(":", 1)
    port, path = port_path.split("/", 1)
    latencies, lock = [], threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            connection.request("GET", "/" + path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"{url} answered {response.status}")
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    latencies.sort()
    return len(latencies) / duration, latencies[int(len(latencies) * 0.99)] * 1000


def parse_args(argv):
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per path")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="paths are measured in turn this many times; the median is reported "
        "(interleaving keeps background load from favouring one path)",
    )
    parser.add_argument(
        "--key-rate",
        type=float,
        default=1e9,
        help="the key's rate limit (requests/s; 0: none, so no request is counted)",
    )
    parser.add_argument(
        "--endpoints", default="list,item", help=f"any of {', '.join(ENDPOINTS)}, comma-separated"
    )
    args = parser.parse_args(argv)
    args.endpoints = [name.strip() for name in args.endpoints.split(",") if name.strip()]
    unknown = sorted(set(args.endpoints) - set(ENDPOINTS))
    if unknown or not args.endpoints:
        parser.error(f"--endpoints: one or more of {', '.join(ENDPOINTS)}, not {unknown}")
    return args


def measure_all(args, measure, ports, key, token, run_id):
    """Return {(endpoint, path): (req/s, p99 ms)}: the median of the rounds, paths in turn."""
    samples = {(endpoint, name): [] for endpoint in args.endpoints for name in TARGETS}
    for round_number in range(args.rounds + 1):
        for endpoint, name in samples:
            service, prefix = TARGETS[name]
            url = f"http://127.0.0.1:{ports[service]}{prefix}"
            url += ENDPOINTS[endpoint].format(run_id=run_id)
            headers = {"X-API-Key": key}
            if name == "direct":
                headers["X-Internal-Token"] = token
            if round_number == 0:
                measure(url, headers, 2, args.connections, args.threads)  # warm-up
            else:
                samples[endpoint, name].append(
                    measure(url, headers, args.duration, args.connections, args.threads)
                )
    return {pair: sorted(values)[len(values) // 2] for pair, values in samples.items()}


def report(args, tool, results):
    """Print a table per endpoint; return whether every target is met."""
    print(
        f"{tool}, {args.connections} connections, median of {args.rounds} x {args.duration} s "
        f"per path, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    met = True
    for endpoint in args.endpoints:
        direct = results[endpoint, "direct"][0]
        print(f"GET {TARGETS['gateway'][1]}{ENDPOINTS[endpoint]} with an API key")
        print(f"{'path':<10} {'req/s':>9} {'p99 ms':>8} {'x direct':>9}")
        for name in TARGETS:
            rate, p99 = results[endpoint, name]
            print(f"{name:<10} {rate:>9,.0f} {p99:>8.1f} {rate / direct:>9.2f}")
        nginx_ok = results[endpoint, "nginx"][0] >= NGINX_TARGET * direct
        gateway_ok = results[endpoint, "gateway"][0] >= GATEWAY_TARGET * direct
        print(
            f"targets: nginx >= {NGINX_TARGET}x {'met' if nginx_ok else 'MISSED'}; "
            f"gateway >= {GATEWAY_TARGET}x {'met' if gateway_ok else 'MISSED'}"
        )
        met = met and nginx_ok and gateway_ok
    return met


def main(argv=None):
    """Start the suite, measure the three paths, print a table; return the exit status."""
    args = parse_args(argv)
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is required (scripts/install-system-deps)")
    tool, measure = ("wrk", run_wrk) if shutil.which("wrk") else ("python", run_python)
    with tempfile.TemporaryDirectory(prefix="uas-bench-") as workdir:
        process, ports, key, token = start_suite(workdir, args.key_rate)
        try:
            run_id = seed_rows(ports["gateway"], key)
            results = measure_all(args, measure, ports, key, token, run_id)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return 0 if report(args, tool, results) else 1


if __name__ == "__main__":
    sys.exit(main())
