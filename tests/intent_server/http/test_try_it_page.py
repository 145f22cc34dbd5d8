"""The try-it page in a real headless browser (Debian's chromium and chromedriver): it lists
the model, classifies what is typed, shows out of scope with its reason, the ranking as bars
and the familiarity, and loads nothing from anywhere else."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from intent_server.process import IntentServer
from tests.fixtures.http import base_url

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no headless browser: install Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver) to test the try-it page",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def classify(browser: Any, text: str, before: str) -> str:
    """Type `text`, press Enter, wait until the verdict differs from `before`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text, Keys.ENTER)
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "intent").text not in ("", before)
    )
    return str(browser.find_element(By.ID, "intent").text)


def test_the_page_classifies_and_explains(browser: Any, http_server: IntentServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = base_url(http_server)
    browser.get(url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#labels li")) > 0)
    labels = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#labels li")]
    assert "book_flight" in labels
    thresholds = browser.find_element(By.ID, "thresholds").text
    assert "familiarity floor" in thresholds and "off" not in thresholds

    assert classify(browser, "book me a flight to Lisbon", "") == "book_flight"
    rows = browser.find_elements(By.CSS_SELECTOR, "#ranking .bar-row")
    assert len(rows) == len(labels)  # every intent, as bars
    assert rows[0].get_attribute("data-intent") == "book_flight"
    assert float(browser.find_element(By.ID, "familiarity").text) > 0.5
    assert browser.find_element(By.ID, "reason").text == ""

    assert classify(browser, "what is the capital of peru", "book_flight") == "out of scope"
    assert browser.find_element(By.ID, "reason").text.startswith("Why:")
    assert "closest intent" in browser.find_element(By.ID, "decision").text

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(name.startswith(url) for name in resources), resources


def test_the_page_shows_the_servers_error(browser: Any, http_server: IntentServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base_url(http_server) + "/")
    WebDriverWait(browser, 30).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#labels li")) > 0
    )
    browser.find_element(By.ID, "text").send_keys("   ", Keys.ENTER)
    error = WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "error").text or None)
    assert "INVALID_ARGUMENT" in error and "only whitespace" in error
