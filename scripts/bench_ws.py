"""Measure change-stream latency through the gateway, and how many subscribers one worker holds.

    python scripts/bench_ws.py [--writes 200] [--subscribers 1000]

Starts a real Test Suite component (gunicorn gthread) and a real gateway with ONE gevent worker on
a fresh data folder, then:

1. latency: one client subscribed to ``/api/test/ws`` through the gateway; each write is a POST
   straight to the component; reported: write -> client (from before the POST until the event
   arrives) and publish -> client (from the event's own timestamp), p50/p99;
2. fan-out: opens ``--subscribers`` clients on ``/api/test/ws`` through the same gateway worker
   (the component sees one upstream subscriber), then times a few writes until EVERY client has
   the event; reports open time, the gateway worker's memory, and delivery p50/p99/max.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import NAMES, ServiceProcess, dead_url  # noqa: E402
from unified_api_server.gateway.keys import KeyStore  # noqa: E402


def quantiles(values):
    """Return p50, p99 and max of ``values`` (ms)."""
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": round(pick(0.5), 2),
        "p99": round(pick(0.99), 2),
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


def start(data):
    """Start the component and the gateway; return them and a key."""
    component = ServiceProcess.component("test", data).wait_ready()
    key = KeyStore(data / "keys.sqlite3").create("bench-ws", "read,write")
    urls = {name: dead_url() for name in NAMES} | {"test": component.url}
    gateway = ServiceProcess.gateway(
        urls,
        data / "keys.sqlite3",
        data / "gateway.log",
        env={"GATEWAY_WORKER_CONNECTIONS": "5000"},
        workers=1,
        streams_per_key=5000,  # one key holds every subscriber here
    )
    return component, gateway.wait_ready(statuses=(200, 503)), key


def connect(gateway, key, query="model=bench"):
    """Open one subscriber through the gateway and read its greeting."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{gateway.port}/api/test/ws?{query}",
        header=[f"X-API-Key: {key}"],
        timeout=60,
    )
    assert json.loads(ws.recv())["type"] == "subscribed"
    return ws


def latency(component, gateway, key, writes):
    """Time single writes until a subscribed client has each event."""
    ws = connect(gateway, key)
    session = requests.Session()
    to_client, from_publish = [], []
    for _ in range(writes):
        began = time.perf_counter()
        session.post(component.url + "/api/test/db/runs", json={"model_name": "bench"}, timeout=10)
        event = json.loads(ws.recv())
        arrived = time.perf_counter()
        to_client.append((arrived - began) * 1000)
        published = datetime.fromisoformat(event["timestamp"]).timestamp()
        from_publish.append((time.time() - published) * 1000)
        time.sleep(0.005)
    ws.close()
    return {
        "write_to_client_ms": quantiles(to_client),
        "publish_to_client_ms": quantiles(from_publish),
    }


def gateway_worker_rss_mb(gateway):
    """Return the resident memory of the gateway's worker process (MiB)."""
    children = Path(f"/proc/{gateway.process.pid}/task/{gateway.process.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def fan_out(component, gateway, key, subscribers, writes=5):
    """Open ``subscribers`` clients, then time writes until every client has the event."""
    idle_rss = gateway_worker_rss_mb(gateway)
    began = time.perf_counter()
    pending = [gevent.spawn(connect, gateway, key) for _ in range(subscribers)]
    gevent.joinall(pending, raise_error=True)
    clients = [g.value for g in pending]
    opened_s = time.perf_counter() - began
    rss = gateway_worker_rss_mb(gateway)
    upstream = requests.get(component.url + "/health", timeout=10).json()["change_subscribers"]
    delivery, last = [], []
    for _ in range(writes):
        began = time.perf_counter()
        requests.post(component.url + "/api/test/db/runs", json={"model_name": "bench"}, timeout=10)

        def receive(ws, began=began):
            ws.recv()
            return (time.perf_counter() - began) * 1000

        readers = [gevent.spawn(receive, ws) for ws in clients]
        gevent.joinall(readers, raise_error=True)
        times = [r.value for r in readers]
        delivery += times
        last.append(max(times))
    for ws in clients:
        ws.close()
    return {
        "subscribers": subscribers,
        "open_seconds": round(opened_s, 2),
        "gateway_worker_rss_mb": {
            "idle": idle_rss,
            "with_subscribers": rss,
            "per_subscriber_kb": round((rss - idle_rss) * 1024 / subscribers, 1),
        },
        "component_subscribers": upstream,
        "delivery_ms": quantiles(delivery),
        "all_delivered_ms": quantiles(last),
    }


def main(argv=None):
    """Run both measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as folder:
        data = Path(folder)
        component, gateway, key = start(data)
        try:
            result = {
                "latency": latency(component, gateway, key, args.writes),
                "fan_out": fan_out(component, gateway, key, args.subscribers),
                "cpus": os.cpu_count(),
            }
        finally:
            gateway.stop()
            component.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
