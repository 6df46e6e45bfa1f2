"""The docs page renders in a real headless Chromium, with nothing fetched from elsewhere."""

import json

import pytest

from tests import chromium

pytestmark = pytest.mark.skipif(
    not chromium.installed(),
    reason="chromium and chromedriver are not installed (scripts/install-system-deps)",
)


@pytest.fixture()
def browser():
    """Start a headless Chromium that can resolve no host but 127.0.0.1."""
    driver = chromium.start(log_requests=True)
    yield driver
    driver.quit()


def test_swagger_ui_renders_the_operations(gateway, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(gateway.url + "/api/docs")
    blocks = WebDriverWait(browser, 60).until(
        ready.presence_of_all_elements_located((By.CSS_SELECTOR, ".opblock"))
    )
    paths = {b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text for b in blocks}
    assert "/api/test/db/runs" in {p.replace("\u200b", "") for p in paths}
    origin = gateway.url.rstrip("/")
    requested = {
        entry["message"]
        for entry in browser.get_log("performance")
        if '"Network.requestWillBeSent"' in entry["message"]
    }
    urls = {json.loads(m)["message"]["params"]["request"]["url"] for m in requested}
    assert urls and all(u.startswith(origin) or u.startswith("data:") for u in urls), urls
