"""The dashboard in a real headless Chromium: sign-in, every page, charts, live updates, forms.

One browser for the module, which can resolve no host but 127.0.0.1; every request it makes must
stay on the gateway's origin. Each page is photographed at 1400 and 390 px wide (the folder is
printed; the pictures are for people to look at), and at 390 px no page may scroll sideways.
"""

import json
import uuid

import pytest
from selenium.common.exceptions import TimeoutException

from tests import chromium
from tests.gateway.conftest import client
from tests.gateway.ui_support import plant

pytestmark = pytest.mark.skipif(
    not chromium.installed(),
    reason="chromium and chromedriver are not installed (scripts/install-system-deps)",
)
WIDTHS = (1400, 390)
FITS = """return document.documentElement.scrollWidth <= innerWidth
  && [...document.querySelectorAll(".main-svg")]
    .every(svg => svg.getBoundingClientRect().right <= innerWidth)"""


@pytest.fixture(scope="module")
def browser():
    """Start one headless Chromium for the module, logging its network requests."""
    driver = chromium.start(log_requests=True)
    driver.requested = set()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Return the folder the screenshots go to."""
    folder = tmp_path_factory.mktemp("ui-screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def planted(gateway, keys):
    """Store the known data once for the module."""
    return plant(gateway, keys["rw"])


def _wait(browser, predicate, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda _: predicate())


def _css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def _note_requests(browser):
    for entry in browser.get_log("performance"):
        if '"Network.requestWillBeSent"' in entry["message"]:
            browser.requested.add(
                json.loads(entry["message"])["message"]["params"]["request"]["url"]
            )


def _photograph(browser, shots, name):
    """Save the whole page at each width; at 390 px it must not scroll sideways."""
    for width in WIDTHS:
        browser.set_window_size(width, 1000)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(height + 140, 6000))
        if width == 390:  # charts follow the window once plotly has handled its resize
            try:
                _wait(browser, lambda: browser.execute_script(FITS), timeout=5)
            except TimeoutException:
                raise AssertionError(f"{name} scrolls sideways at 390 px") from None
        browser.save_screenshot(str(shots / f"{name}-{width}.png"))
    browser.set_window_size(1400, 1000)
    _note_requests(browser)


def _visit(browser, gateway, path, ready):
    browser.get(gateway.url + path)
    _wait(browser, lambda: _css(browser, ready))


def test_sign_in_and_the_overview(gateway, keys, planted, browser, shots):
    browser.get(gateway.url + "/ui/alerts")
    _wait(browser, lambda: _css(browser, "#api-key"))
    assert "/ui/login" in browser.current_url
    _css(browser, "#api-key")[0].send_keys(keys["rw"])
    _css(browser, "main form button[type=submit]")[0].click()
    _wait(browser, lambda: _css(browser, "#alert-list"))  # back where it started
    _visit(browser, gateway, "/ui/", "#health")
    assert "t-rw" in _css(browser, ".who")[0].text
    assert planted.model in _css(browser, "#open-alerts")[0].text
    from selenium.webdriver.common.keys import Keys

    _css(browser, "body")[0].send_keys(Keys.TAB)  # the keyboard's first stop: the skip link
    focused = browser.execute_script("return document.activeElement")
    assert focused.get_attribute("class") == "skip" and focused.is_displayed()
    focused.send_keys(Keys.ENTER)
    assert browser.execute_script("return document.activeElement.id") == "main"
    _photograph(browser, shots, "overview")


def test_model_page_draws_its_charts_and_follows_a_write_live(
    gateway, keys, planted, browser, shots
):
    _visit(browser, gateway, f"/ui/model/{planted.model}", "#bench-configs")
    assert planted.failing_test in _css(browser, "#test-health")[0].text
    for chart in ("#chart-pass-rate", "#chart-latency_ms_mean", "#chart-throughput"):
        _wait(browser, lambda chart=chart: _css(browser, f"{chart} .main-svg"))
    _wait(browser, lambda: _css(browser, "#live-status")[0].text == "Live updates: on")
    task_id = f"ui-live-{uuid.uuid4().hex[:8]}"
    body = {"task_id": task_id, "model_name": planted.model, "status": "running"}
    response = client(gateway, keys["rw"]).call("POST", "/api/db/generator/tasks", json=body)
    assert response.status_code == 201, response.text
    _wait(browser, lambda: task_id in _css(browser, "#gen")[0].text)
    assert "regression" in _css(browser, "#bench-configs")[0].text
    _photograph(browser, shots, "model")


def test_acknowledging_an_alert_through_its_form(gateway, keys, planted, browser, shots):
    api = client(gateway, keys["rw"])
    found = api.call("GET", f"/api/db/alerts?model_name={planted.model}&kind=regression").json()
    alert_id = found["alerts"][0]["alert_id"]
    _visit(browser, gateway, "/ui/alerts", "#alert-list")
    _photograph(browser, shots, "alerts")
    button = f'form[action="/ui/alerts/benchmark/{alert_id}/acknowledge"] button'
    _css(browser, button)[0].click()
    _wait(browser, lambda: _css(browser, ".notice"))
    assert "acknowledged" in _css(browser, ".notice")[0].text
    assert api.call("GET", f"/api/benchmark/db/alert/{alert_id}").json()["state"] == "acknowledged"


def test_starting_a_job_and_watching_it_finish(gateway, browser, shots):
    _visit(browser, gateway, "/ui/jobs", "#generator-model")
    _photograph(browser, shots, "jobs")
    _css(browser, "#generator-model")[0].send_keys("bert-base-uncased")
    _css(browser, "form[action='/ui/jobs/generator'] input[name=force]")[0].click()
    _css(browser, "form[action='/ui/jobs/generator'] button")[0].click()
    _wait(browser, lambda: _css(browser, "#job-progress"))
    done = ("completed", "failed", "cancelled", "timeout")
    _wait(browser, lambda: _css(browser, "#job-status")[0].text in done, timeout=120)
    assert _css(browser, "#job-status")[0].text == "completed"
    assert _css(browser, "#job-percent")[0].text == "100%"
    _photograph(browser, shots, "job")


def test_detail_compare_and_search_pages(gateway, planted, browser, shots):
    _visit(browser, gateway, f"/ui/run/benchmark/{planted.bench_runs[-1]}", "#item")
    assert "regression" in _css(browser, "#item")[0].text
    _photograph(browser, shots, "run")
    _visit(browser, gateway, f"/ui/batch/test/{planted.test_batches[1]}", "#batch")
    assert planted.model in _css(browser, "#batch")[0].text
    _photograph(browser, shots, "batch")
    base, new = planted.bench_batches
    query = f"component=benchmark&baseline={base}&contender={new}"
    _visit(browser, gateway, f"/ui/compare?{query}", "table.compare")
    _wait(browser, lambda: _css(browser, "#chart-compare .main-svg"))
    assert _css(browser, "table.compare tr.regressed")
    _photograph(browser, shots, "compare")
    _visit(browser, gateway, f"/ui/search?query={planted.model}", "#results")
    assert planted.task_id[:8] in _css(browser, "#results")[0].text
    _photograph(browser, shots, "search")


def test_every_request_stayed_on_the_origin(gateway, browser):
    _note_requests(browser)
    origin = gateway.url.rstrip("/")
    outside = {u for u in browser.requested if not (u.startswith(origin) or u.startswith("data:"))}
    assert browser.requested and not outside, outside
