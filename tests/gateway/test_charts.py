"""Charts through a real gateway and real components: figures checked against planted data."""

import pathlib
import re
import shlex
import struct
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.gateway.conftest import client, start_gateway
from tests.support import NAMES, REPO, wait_until
from unified_api_server.gateway.figures import BETTER, UNCHANGED, WORSE

CHARTS = "/api/db/charts"
SVG = "{http://www.w3.org/2000/svg}"
SPIKE = 20  # the run of the cpu series that regresses: 150 ms against about 101


def _at(minute, day=1):
    return f"2026-03-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00+00:00"


def _same_time(a, b):
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b)


def _bulk(api, component, rows):
    response = api.call("POST", f"/api/db/{component}/runs/bulk", json=rows)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def chart_gateway(work_dir, components, keys_db, keys):
    """A gateway with one worker, so that its in-process cache answers every request."""
    urls = {name: components[name].url for name in NAMES}
    service = start_gateway(work_dir, urls, keys_db, label="chart-gateway", workers=1)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def planted(chart_gateway, keys):
    """Store known series, batches and test runs; return what was stored."""
    api = client(chart_gateway, keys["rw"])
    model = f"chart-{uuid.uuid4().hex[:8]}"
    config = {"model_name": model, "batch_size": 1, "status": "completed"}
    cpu = [100.0 + i % 3 for i in range(30)]
    cpu[SPIKE] = 150.0
    cuda = [10.0 + i % 2 for i in range(12)]
    runs = [
        {**config, "hardware": "cpu", "precision": "fp32", "started_at": _at(i),
         "latency_ms_mean": value}
        for i, value in enumerate(cpu)
    ] + [
        {**config, "hardware": "cuda:0", "precision": "fp16", "started_at": _at(i),
         "latency_ms_mean": value}
        for i, value in enumerate(cuda)
    ]  # fmt: skip
    _bulk(api, "benchmark", runs)
    long_values = [50.0 + (i * 37) % 23 for i in range(1200)]
    long_values[300], long_values[900] = 1.0, 999.0
    long_runs = [
        {**config, "hardware": "tpu", "precision": "bf16",
         "started_at": _at(i % 1440, 2 + i // 1440), "throughput": value}
        for i, value in enumerate(long_values)
    ]  # fmt: skip
    _bulk(api, "benchmark", long_runs)
    pair = _plant_batches(api, f"{model}-pair")
    tests = _plant_tests(api, model)
    return {"model": model, "cpu": cpu, "cuda": cuda, "long": long_values, "pair": pair,
            "tests": tests}  # fmt: skip


def _plant_batches(api, model):
    """Two batches of one configuration: latency 20% worse, throughput 20% better, memory +2%."""
    ids = [f"{model}-{n}" for n in ("before", "after")]
    figures = [(100.0, 10.0, 50.0), (120.0, 12.0, 51.0)]
    for index, (batch, (latency, throughput, memory)) in enumerate(zip(ids, figures)):
        response = api.call("POST", "/api/db/benchmark/batches", json={"batch_id": batch})
        assert response.status_code == 201, response.text
        run = {"model_name": model, "hardware": "cpu", "batch_size": 8, "precision": "fp32",
               "status": "completed", "batch_id": batch, "started_at": _at(index, 20),
               "latency_ms_mean": latency, "throughput": throughput,
               "memory_mb": memory}  # fmt: skip
        assert api.call("POST", "/api/db/benchmark/runs", json=run).status_code == 201
    return ids


def _plant_tests(api, model):
    """Six test runs of four tests: run k fails k % 4 of them; return [(started_at, rate)]."""
    planted = []
    for k in range(6):
        failing = k % 4
        steps = [
            {"name": f"test_{t}", "status": "failed" if t < failing else "passed"} for t in range(4)
        ]
        run = {"model_name": model, "hardware": ["cpu"], "test_type": "basic",
               "status": "completed", "started_at": _at(k, 10), "steps": steps}  # fmt: skip
        assert api.call("POST", "/api/db/test/runs", json=run).status_code == 201
        planted.append((_at(k, 10), (4 - failing) / 4 * 100))
    return planted


def _chart(api, chart, **params):
    response = api.call("GET", f"{CHARTS}/{chart}", params=params)
    assert response.status_code == 200, response.text
    return response


def _traces(body):
    return {trace["name"]: trace for trace in body["figure"]["data"]}


def test_history_draws_each_configuration_and_marks_the_regression(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    model = planted["model"]
    body = _chart(api, "benchmark-history", model_name=model, precision__in="fp32,fp16").json()
    assert body["chart"] == "benchmark-history" and body["downsampled"] is False
    traces = _traces(body)
    cpu, cuda = traces["cpu · fp32"], traces["cuda:0 · fp16"]
    assert cpu["y"] == planted["cpu"] and cuda["y"] == planted["cuda"]
    assert all(_same_time(x, _at(i)) for i, x in enumerate(cpu["x"]))
    assert body["points"] == 30 + 12
    regressions = traces["regressions"]
    assert regressions["y"] == [150.0] and _same_time(regressions["x"][0], _at(SPIKE))
    assert regressions["marker"]["color"] == WORSE
    assert 150.0 in traces["outliers (|z| over the threshold)"]["y"]
    layout = body["figure"]["layout"]
    assert layout["title"]["text"] == f"{model}: latency_ms_mean"
    assert layout["yaxis"]["title"]["text"] == "latency_ms_mean (ms), lower is better"
    one = _chart(api, "benchmark-history", model_name=model, hardware="cuda:0").json()
    assert [t["name"] for t in one["figure"]["data"]] == ["cuda:0 · bs 1 · fp16"]
    named = {"hardware": "cuda:0", "precision": "fp16", "batch_size": 1}  # no statistics asked
    same = _chart(api, "benchmark-history", model_name=model, **named).json()
    assert same["figure"]["data"] == one["figure"]["data"]


def test_every_configuration_is_read_with_one_component_request(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    request_id = f"all-configurations-{uuid.uuid4().hex}"
    response = api.call(
        "GET",
        f"{CHARTS}/benchmark-history",
        params={"model_name": planted["model"], "width": 777},
        headers={"X-Request-Id": request_id},
    )
    assert response.status_code == 200 and len(response.json()["series"]) == 2  # fmt: skip

    def calls():
        with open(chart_gateway.log_path, encoding="utf-8") as handle:
            return [line for line in handle if "upstream" in line and request_id in line]

    logged = wait_until(calls, message="the chart's upstream calls in the log")
    assert len(logged) == 1 and "path=/api/benchmark/db/histories " in logged[0]


def test_history_is_downsampled_by_default_and_keeps_the_extremes(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    args = {"model_name": planted["model"], "hardware": "tpu", "metric": "throughput"}
    body = _chart(api, "benchmark-history", **args).json()
    [line] = [t for t in body["figure"]["data"] if t["mode"].startswith("lines")]
    assert (
        body["downsampled"] is True and len(line["y"]) <= 500 and body["points"] == len(line["y"])
    )
    assert min(line["y"]) == 1.0 and max(line["y"]) == 999.0
    assert body["series"][0]["count"] == 1200
    few = _chart(api, "benchmark-history", points=40, **args).json()
    [line] = [t for t in few["figure"]["data"] if t["mode"].startswith("lines")]
    assert len(line["y"]) <= 40 and {1.0, 999.0} <= set(line["y"])
    too_many = api.call("GET", f"{CHARTS}/benchmark-history", params={**args, "points": 5000})
    assert too_many.status_code == 400 and "points" in too_many.json()["error"]["message"]


def test_the_svg_has_the_title_the_axes_and_one_marker_per_regression(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    response = _chart(api, "benchmark-history", model_name=planted["model"], hardware="cpu",
                      format="svg")  # fmt: skip
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    texts = [" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
    assert f"{planted['model']}: latency_ms_mean" in texts
    assert "run started at (UTC)" in texts
    assert "latency_ms_mean (ms), lower is better" in texts
    assert "regressions" in texts  # the legend
    names = [t["name"] for t in _chart(api, "benchmark-history", model_name=planted["model"],
                                        hardware="cpu").json()["figure"]["data"]]  # fmt: skip
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}
    regression = groups[f"trace-{names.index('regressions')}"]
    assert len([u for u in regression.iter(f"{SVG}use")]) == 1
    line = groups[f"trace-{names.index('cpu · bs 1 · fp32')}"]
    assert len(list(line.iter(f"{SVG}use"))) == len(planted["cpu"])  # a marker on each point


def test_the_compare_svg_has_one_bar_per_change(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    before, after = planted["pair"]
    response = _chart(api, "compare", baseline=before, contender=after, format="svg")
    root = ET.fromstring(response.content)
    texts = {" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")}
    assert {"latency_ms_mean", "throughput", "memory_mb", "worse", "better", "unchanged"} <= texts
    assert "change of the contender against the baseline (%)" in texts
    names = [t["name"] for t in _chart(api, "compare", baseline=before,
                                        contender=after).json()["figure"]["data"]]  # fmt: skip
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}
    bars = {
        name: len(list(groups[f"trace-{i}"].iter(f"{SVG}path"))) for i, name in enumerate(names)
    }
    assert bars == {"worse": 1, "better": 1, "unchanged": 1}  # a bar (one path) per change


def test_the_png_is_a_png_of_the_size_asked(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    response = _chart(api, "test-pass-rate", model_name=planted["model"], format="png",
                      width=640, height=360)  # fmt: skip
    assert response.headers["Content-Type"] == "image/png"
    data = response.content
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (640, 360)


def test_images_drawn_at_once_all_come_back_whole(chart_gateway, keys, planted):
    """Drawings run on the worker's thread pool one at a time; the answers stay whole."""
    args = {"model_name": planted["model"], "hardware": "cpu"}
    asks = [{**args, "format": fmt, "width": 500 + n} for n, fmt in enumerate(["svg", "png"] * 3)]

    def ask(params):
        return client(chart_gateway, keys["read"]).call(
            "GET", f"{CHARTS}/benchmark-history", params=params
        )

    with ThreadPoolExecutor(len(asks)) as pool:
        answers = list(pool.map(ask, asks))
    for params, answer in zip(asks, answers):
        assert answer.status_code == 200, answer.text
        if params["format"] == "png":
            assert struct.unpack(">II", answer.content[16:24]) == (params["width"], 500)
        else:
            drawn = ET.fromstring(answer.content).get("width")  # in points: 72 to 100 pixels
            assert float(drawn.removesuffix("pt")) == pytest.approx(params["width"] * 0.72)


def test_pass_rate_is_each_runs_share_of_passing_tests(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    body = _chart(api, "test-pass-rate", model_name=planted["model"]).json()
    [trace] = body["figure"]["data"]
    assert trace["name"] == "cpu · basic"
    assert trace["y"] == [rate for _, rate in planted["tests"]]
    assert all(_same_time(x, at) for x, (at, _) in zip(trace["x"], planted["tests"]))
    assert body["figure"]["layout"]["yaxis"]["range"] == [0, 100]
    daily = _chart(api, "test-pass-rate", model_name=planted["model"], bucket="day").json()
    [day] = daily["figure"]["data"]
    assert day["y"] == [pytest.approx(100 * 17 / 24)]  # 24 outcomes that day, 7 failures


def test_compare_colours_each_change_by_its_direction(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    before, after = planted["pair"]
    body = _chart(api, "compare", baseline=before, contender=after).json()
    bars = {}
    for trace in body["figure"]["data"]:
        assert trace["type"] == "bar" and trace["orientation"] == "h"
        for label, value in zip(trace["y"], trace["x"]):
            bars[label] = (pytest.approx(value), trace["marker"]["color"], trace["name"])
    assert bars["latency_ms_mean"] == (20.0, WORSE, "worse")
    assert bars["throughput"] == (20.0, BETTER, "better")
    assert bars["memory_mb"] == (2.0, UNCHANGED, "unchanged")
    assert body["counts"] == {"worse": 1, "better": 1, "unchanged": 1, "no verdict": 0}
    only = _chart(api, "compare", baseline=before, contender=after, metric="throughput").json()
    assert [t["y"] for t in only["figure"]["data"]] == [["throughput"]]


def test_latest_draws_a_bar_per_configuration(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    body = _chart(api, "benchmark-latest", model_name=planted["model"]).json()
    bars = {x: y for t in body["figure"]["data"] for x, y in zip(t["x"], t["y"])}
    assert bars == {"cpu · fp32": planted["cpu"][-1], "cuda:0 · fp16": planted["cuda"][-1]}


def test_bad_requests_name_what_is_wrong(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    unknown = api.call("GET", f"{CHARTS}/pie")
    assert unknown.status_code == 404
    assert "benchmark-history" in unknown.json()["error"]["details"]["charts"]
    cases = {
        "benchmark-history?hardware=cpu": "model_name",
        f"benchmark-history?model_name={planted['model']}&colour=red": "colour",
        f"benchmark-history?model_name={planted['model']}&batch_size=abc": "batch_size",
        f"benchmark-history?model_name={planted['model']}&metric=no_such": "no_such",
        f"benchmark-history?model_name={planted['model']}&format=gif": "format",
        f"test-pass-rate?model_name={planted['model']}&bucket=week": "bucket",
        "compare?baseline=nope&contender=nope": "nope",
        f"benchmark-latest?model_name={planted['model']}&hardware=cpu": "hardware",
    }
    for path, named in cases.items():
        response = api.call("GET", f"{CHARTS}/{path}")
        assert response.status_code in (400, 404), (path, response.text)
        assert named in response.json()["error"]["message"], (path, response.text)
    assert api.call("GET", f"{CHARTS}/compare?baseline=nope&contender=nope").status_code == 404
    assert client(chart_gateway).call("GET", f"{CHARTS}/compare").status_code == 401


def test_a_series_with_no_data_is_an_empty_figure_with_a_note(chart_gateway, keys):
    api = client(chart_gateway, keys["read"])
    for chart in ("benchmark-history", "test-pass-rate"):
        body = _chart(api, chart, model_name="no-such-model").json()
        assert body["figure"]["data"] == [] and body["points"] == 0
        assert "no-such-model" in body["note"]
        assert body["figure"]["layout"]["annotations"][0]["text"] == body["note"]
    named = {"hardware": "cpu", "precision": "fp32", "batch_size": 1}
    body = _chart(api, "benchmark-history", model_name="no-such-model", **named).json()
    assert body["figure"]["data"] == [] and "no-such-model" in body["note"]
    image = _chart(api, "benchmark-history", model_name="no-such-model", format="svg")
    assert "no-such-model" in image.text


def test_charts_are_cached_until_a_write_and_revalidate_with_etags(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["rw"])
    model = planted["model"]
    path = f"{CHARTS}/benchmark-history?model_name={model}&hardware=cpu"

    def hit(path=path, **kwargs):
        response = api.call("GET", path, **kwargs)
        return response if response.headers.get("X-Cache") == "hit" else None

    first = wait_until(hit, timeout=30, message="a chart answered from the cache")
    etag = first.headers["ETag"]
    unchanged = api.call("GET", path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    svg = f"{path}&format=svg"
    api.call("GET", svg)
    cached_svg = wait_until(lambda: hit(svg), timeout=10, message="an SVG from the cache")
    assert cached_svg.headers["Content-Type"].startswith("image/svg+xml")
    run = {"model_name": model, "hardware": "cpu", "batch_size": 1, "precision": "fp32",
           "status": "completed", "started_at": _at(59), "latency_ms_mean": 101.0}  # fmt: skip
    assert api.call("POST", "/api/db/benchmark/runs", json=run).status_code == 201

    def changed():
        response = api.call("GET", path, headers={"If-None-Match": etag})
        return response if response.status_code == 200 else None

    fresh = wait_until(changed, timeout=10, interval=0.05, message="the write seen")
    assert _traces(fresh.json())["cpu · bs 1 · fp32"]["y"][-1] == 101.0


def test_a_chart_needs_the_read_scope_of_its_component(chart_gateway, store, planted):
    tests_only = client(chart_gateway, store.create(f"charts-{uuid.uuid4().hex[:6]}", "test:read"))
    allowed = tests_only.call("GET", f"{CHARTS}/test-pass-rate?model_name={planted['model']}")
    assert allowed.status_code == 200, allowed.text
    refused = tests_only.call("GET", f"{CHARTS}/benchmark-history?model_name={planted['model']}")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["missing_scope"] == "benchmark:read"
    assert "benchmark:read" in refused.json()["error"]["message"]


def _documented():
    """Return the paths of the curl examples in the Charts section of docs/api.md."""
    text = pathlib.Path(REPO, "docs", "api.md").read_text(encoding="utf-8")
    section = text[text.index("## Charts") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    urls = [shlex.split(line)[-1] for line in block.splitlines() if line.startswith("curl")]
    return [url.replace("$GW", "") for url in urls]


def test_the_documented_examples_answer(chart_gateway, keys, planted):
    api = client(chart_gateway, keys["read"])
    examples = _documented()
    assert examples
    for path in examples:
        path = path.replace("bert-base-uncased", planted["model"])
        path = path.replace("nightly-41", planted["pair"][0]).replace(
            "nightly-42", planted["pair"][1]
        )
        response = api.call("GET", path)
        assert response.status_code == 200, (path, response.text)
