"""The dashboard's pages through the real gateway and components: what each page shows, who may."""

import re

import pytest

from tests.gateway.conftest import client
from tests.gateway.ui_support import plant, signed_in


@pytest.fixture(scope="module")
def planted(gateway, keys):
    """Store the known data once for the module."""
    return plant(gateway, keys["rw"])


@pytest.fixture(scope="module")
def browser_rw(gateway, keys):
    """Return a session signed in with the read+write key."""
    return signed_in(gateway, keys["rw"])


@pytest.fixture(scope="module")
def browser_read(gateway, keys):
    """Return a session signed in with the read-only key."""
    return signed_in(gateway, keys["read"])


def _page(session, gateway, path, status=200):
    response = session.get(gateway.url + path, allow_redirects=False, timeout=30)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


def _csrf(html):
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def _alert(gateway, keys, planted, kind):
    api = client(gateway, keys["rw"])
    body = api.call("GET", f"/api/db/alerts?model_name={planted.model}&kind={kind}").json()
    return body["alerts"][0]


def test_a_page_without_a_session_sends_the_browser_to_sign_in(gateway):
    response = client(gateway).call("GET", "/ui/alerts?state=active", allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/ui/login?next=/ui/alerts%3Fstate%3Dactive")


def test_overview_shows_each_component_its_recent_items_and_the_open_alerts(
    gateway, planted, browser_rw
):
    html = _page(browser_rw, gateway, "/ui/?fresh=*")  # written just now: past any cache
    for title in ("Test Suite API", "Generator API", "Benchmark API"):
        assert title in html
    assert f'href="/ui/model/{planted.model}"' in html
    assert f"test {planted.failing_test} of {planted.model}" in html  # the test_failure alert
    assert f"/ui/run/generator/{planted.task_id}" in html
    assert 'name="csrf-token"' in html and "Sign out" in html and 'href="#main"' in html


def test_model_page_shows_failing_tests_regressions_tasks_and_chart_slots(
    gateway, planted, browser_rw
):
    html = _page(browser_rw, gateway, f"/ui/model/{planted.model}")
    assert f"<h1>{planted.model}</h1>" in html
    failing = html.split('id="test-health"')[1].split("<h3>Flaky</h3>")[0]
    assert planted.failing_test in failing
    configs = html.split('id="bench-configs"')[1]
    assert 'class="regressed"' in configs and "latency_ms_mean" in configs
    assert f"/ui/run/generator/{planted.task_id}" in html
    assert 'data-chart="test-pass-rate"' in html
    for metric in ("latency_ms_mean", "throughput", "memory_mb"):
        assert f'data-metric="{metric}"' in html
    assert "/ui/static/plotly.min.js" in html


def test_run_page_shows_the_verdicts_and_a_test_runs_steps(gateway, planted, browser_rw):
    html = _page(browser_rw, gateway, f"/ui/run/benchmark/{planted.bench_runs[-1]}")
    row = html.split('<th scope="row">latency_ms_mean</th>')[1].split("</tr>")[0]
    assert "regression" in row and "30.00" in row
    assert f"/ui/batch/benchmark/{planted.bench_batches[1]}" in html
    steps = _page(browser_rw, gateway, f"/ui/run/test/{planted.test_runs[1]}")
    assert planted.failing_test in steps and "s-failed" in steps


def test_batch_page_lists_its_members(gateway, planted, browser_rw):
    html = _page(browser_rw, gateway, f"/ui/batch/benchmark/{planted.bench_batches[0]}")
    assert html.count("/ui/run/benchmark/ui-bench-") == 7
    assert planted.bench_runs[-1] not in html


def test_compare_colours_changes_by_direction(gateway, planted, browser_rw):
    base, new = planted.bench_batches
    html = _page(
        browser_rw, gateway, f"/ui/compare?component=benchmark&baseline={base}&contender={new}"
    )
    latency = html.split("<td>latency_ms_mean</td>")[0].rsplit("<tr", 1)[1]
    assert 'class="regressed"' in latency
    assert 'data-chart="compare"' in html
    a, b = planted.test_batches
    tests = _page(browser_rw, gateway, f"/ui/compare?component=test&baseline={a}&contender={b}")
    newly = tests.split("Newly failing</caption>")[1].split("</table>")[0]
    assert planted.failing_test in newly and 'class="regressed"' in newly
    query = "component=benchmark&baseline=nope&contender=x"
    bad = _page(browser_rw, gateway, f"/ui/compare?{query}", 404)
    assert "problem" in bad and "nope" in bad


def test_an_alert_is_acknowledged_through_its_form_and_names_the_key(
    gateway, keys, planted, browser_rw
):
    alert = _alert(gateway, keys, planted, "regression")
    html = _page(browser_rw, gateway, "/ui/alerts?fresh=*")
    action = f"/ui/alerts/benchmark/{alert['alert_id']}/acknowledge"
    assert f'action="{action}"' in html
    refused = browser_rw.post(gateway.url + action, data={}, allow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    done = browser_rw.post(
        gateway.url + action, data={"csrf_token": _csrf(html)}, allow_redirects=False
    )
    assert done.status_code == 303 and "done=acknowledged" in done.headers["Location"]
    after = client(gateway, keys["rw"]).call("GET", f"/api/benchmark/db/alert/{alert['alert_id']}")
    assert after.json()["state"] == "acknowledged" and after.json()["acknowledged_by"] == "t-rw"
    again = browser_rw.post(
        gateway.url + action, data={"csrf_token": _csrf(html)}, allow_redirects=False
    )
    assert again.status_code == 409 and "acknowledged" in again.text


def test_suppressing_an_alert_suppresses_its_series(gateway, keys, planted, browser_rw):
    alert = _alert(gateway, keys, planted, "test_failure")
    html = _page(browser_rw, gateway, "/ui/alerts?fresh=*")
    action = f"/ui/alerts/test/{alert['alert_id']}/suppress"
    sent = browser_rw.post(
        gateway.url + action, data={"csrf_token": _csrf(html), "hours": "1"}, allow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    found = client(gateway, keys["rw"]).call("GET", "/api/test/db/suppressions").json()
    rows = [s for s in found["suppressions"] if s.get("model_name") == planted.model]
    assert rows and rows[0]["test_name"] == planted.failing_test


def test_a_read_only_key_sees_alerts_but_no_forms_and_may_not_post(
    gateway, keys, planted, browser_read
):
    alert = _alert(gateway, keys, planted, "regression")
    html = _page(browser_read, gateway, "/ui/alerts?fresh=*")
    assert "needs benchmark:write" in html and "/acknowledge" not in html
    action = f"/ui/alerts/benchmark/{alert['alert_id']}/resolve"
    refused = browser_read.post(gateway.url + action, data={"csrf_token": _csrf(html)})
    assert refused.status_code == 403 and "benchmark:write" in refused.text


def test_a_key_of_one_component_sees_only_that_component(gateway, store, planted):
    session = signed_in(gateway, store.create("t-ui-test-reader", "test:read"))
    html = _page(session, gateway, "/ui/")
    assert "Test Suite API" in html and "Left out: generator, benchmark" in html
    page = _page(session, gateway, f"/ui/run/benchmark/{planted.bench_runs[0]}", 403)
    assert "benchmark:read" in page


def test_starting_a_job_from_the_form_leads_to_its_page(gateway, keys, browser_rw):
    html = _page(browser_rw, gateway, "/ui/jobs")
    token = _csrf(html)
    bad = browser_rw.post(
        gateway.url + "/ui/jobs/benchmark",
        data={"csrf_token": token, "model_name": "bert-base-uncased", "batch_sizes": "one"},
    )
    assert bad.status_code == 400 and "batch sizes" in bad.text
    started = browser_rw.post(
        gateway.url + "/ui/jobs/generator",
        data={
            "csrf_token": token,
            "model_name": "bert-base-uncased",
            "hardware": "cpu",
            "force": "on",
        },
        allow_redirects=False,
    )
    assert started.status_code == 303, started.text
    page = _page(browser_rw, gateway, started.headers["Location"])
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    assert f'data-job="{job_id}"' in page and 'id="job-progress"' in page


def test_search_lists_what_each_component_found(gateway, planted, browser_rw):
    html = _page(browser_rw, gateway, f"/ui/search?query={planted.model}")
    assert f"/ui/run/generator/{planted.task_id}" in html
    assert f"/ui/run/benchmark/{planted.bench_runs[0]}" in html


def test_a_fragment_is_the_content_alone(gateway, planted, browser_rw):
    html = _page(browser_rw, gateway, f"/ui/model/{planted.model}?fragment=1")
    assert "<html" not in html and 'id="bench-configs"' in html


def test_unknown_things_are_404_pages(gateway, planted, browser_rw):
    assert "no component" in _page(browser_rw, gateway, "/ui/run/nothing/1", 404)
    assert "was not found" in _page(browser_rw, gateway, "/ui/run/test/no-such-run", 404)
    smuggled = f"/ui/batch/test/{planted.test_batches[0]}%3Flimit%3D1"  # an id, not a query
    assert "was not found" in _page(browser_rw, gateway, smuggled, 404)
    assert "runs no jobs" in _page(browser_rw, gateway, "/ui/jobs/nothing/1", 404)
    assert "Unknown state" in _page(browser_rw, gateway, "/ui/alerts?state=bogus", 400)
    assert "can be compared" in _page(browser_rw, gateway, "/ui/compare?component=x&a=1", 400)


def test_assets_come_from_the_gateway(gateway):
    for name in ("ui.css", "live.js", "charts.js", "job.js", "plotly.min.js"):
        response = client(gateway).call("GET", f"/ui/static/{name}")
        assert response.status_code == 200 and len(response.content) > 500, name


def test_a_refresh_reads_the_component_it_names_afresh(gateway, keys, planted, browser_rw):
    path = f"/ui/model/{planted.model}?fragment=1"
    _page(browser_rw, gateway, path)  # the component reads are cached now
    task = f"ui-fresh-{planted.model[3:9]}"
    body = {"task_id": task, "model_name": planted.model, "status": "running"}
    assert client(gateway, keys["rw"]).call("POST", "/api/db/generator/tasks", json=body).ok
    assert task in _page(browser_rw, gateway, path + "&fresh=generator")
