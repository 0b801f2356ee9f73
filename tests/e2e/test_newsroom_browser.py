"""The newsroom page in a real browser (Debian's headless chromium through Selenium and
chromium-driver) against a running `newswatch up --demo`.

A hostile feed (a title with `<script>`) is added to the demo's feeds file while the page is
open: its alert, and the new story its article starts, must appear live (alerts list and
stories panel), without a reload, shown as text; muting that story from the panel hides the
story and its alert for every viewer. Screenshots go to
build/newsroom-e2e/ (CI keeps them as artifacts). Without chromium the tests are skipped with
the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import html
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from newswatch.streams import endpoints
from newswatch.streams.embedded import free_port
from tests.support.environment import ROOT, unavailable
from tests.support.http import serve_in_thread

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow, pytest.mark.browser]

SHOTS = ROOT / "build" / "newsroom-e2e"
FIRST_ALERT_BUDGET = 60.0
HOSTILE_TITLE = "<script>window.__pwned=1</script> DeepSeek hit by new US chip export controls"
# Escaped twice: the poller turns feed HTML into text (tags dropped, entities decoded once), so
# this is how a title whose *text* reads "<script>…" arrives, e.g. a story about XSS.
HOSTILE_FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Hostile wire</title><link>http://127.0.0.1/</link>
<description>test</description>
<item><title>{html.escape(html.escape(HOSTILE_TITLE))}</title>
<link>http://127.0.0.1/hostile/1</link><guid>hostile-1</guid>
<pubDate>Fri, 04 Dec 2026 10:00:00 GMT</pubDate>
<description>Washington tightened export controls on Nvidia AI chips sold to DeepSeek, the
Chinese AI model developer, and to other buyers in China.</description></item>
</channel></rss>""".encode()


def _browser_paths() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        unavailable(
            "headless chromium not found: apt-get install -y chromium chromium-driver "
            f"(chromium: {chromium}, chromedriver: {driver})"
        )
    assert chromium and driver
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


async def _hostile(_: web.Request) -> web.Response:
    return web.Response(body=HOSTILE_FEED, content_type="application/rss+xml")


@pytest.fixture(scope="module")
def hostile_feed() -> Iterator[str]:
    app = web.Application()
    app.router.add_get("/hostile.xml", _hostile)
    with serve_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}/hostile.xml"


@pytest.fixture(scope="module")
def demo(
    browser: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[endpoints.Endpoints]:
    state = tmp_path_factory.mktemp("newsroom-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_STATE_DIR=str(state), NEWSWATCH_WEB_PORT=str(free_port()))
    log_path = state / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "newswatch.streams.cli", "up", "--demo"],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        found = None
        while found is None and time.monotonic() < deadline:
            assert up.poll() is None, log_path.read_text(errors="replace")
            found = endpoints.read(state)
            time.sleep(0.2)
        assert found is not None, "no up.json:\n" + log_path.read_text(errors="replace")
        while not _answers(found.page_url):  # the worker's web server starts after up.json
            assert time.monotonic() < deadline + 60, log_path.read_text(errors="replace")
            assert up.poll() is None, log_path.read_text(errors="replace")
            time.sleep(0.5)
        yield found
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(90)
        except subprocess.TimeoutExpired:
            up.kill()
            code = None
        shutil.copy(log_path, SHOTS / "up.log")
    # Open SSE connections must not hold the worker's shutdown.
    assert code == 0, log_path.read_text(errors="replace")[-3000:]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str, driver=None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    if driver is not None:
        driver.save_screenshot(str(SHOTS / "failure.png"))
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _alerts(driver):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#alerts > li.alert")


def _severe_logs(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]


def test_page_shows_alerts_then_a_hostile_one_live(browser, demo, hostile_feed) -> None:  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    driver = browser
    started = time.monotonic()
    driver.get(demo.page_url)

    def first_alerts():  # type: ignore[no-untyped-def]
        if not _alerts(driver):
            driver.refresh()  # before the first alert the list is empty; live starts after
            time.sleep(1.0)
        return _alerts(driver)

    _wait(first_alerts, FIRST_ALERT_BUDGET, "the first alerts on the page", driver)
    print(f"first alerts on the page {time.monotonic() - started:.1f}s after opening it")
    _wait(
        lambda: driver.find_element(By.ID, "live").get_attribute("data-state") == "live",
        15,
        "the live indicator",
        driver,
    )
    driver.save_screenshot(str(SHOTS / "page.png"))
    before = {e.get_attribute("id") for e in _alerts(driver)}
    driver.execute_script("window.__noReload = true")

    # The hostile feed joins the demo's feeds file; the poller picks it up within seconds.
    feeds_file = Path(demo.feeds_file or "")
    data = yaml.safe_load(feeds_file.read_text())
    data["feeds"].append({"id": "hostile-wire", "url": hostile_feed, "lang": "en"})
    feeds_file.write_text(yaml.safe_dump(data))

    def hostile_item():  # type: ignore[no-untyped-def]
        for item in _alerts(driver):
            if item.get_attribute("id") not in before and "window.__pwned" in item.text:
                return item
        return None

    item = _wait(hostile_item, 60, "the hostile alert to appear live", driver)
    assert driver.execute_script("return window.__noReload") is True, "the page reloaded"
    title = item.find_element(By.CSS_SELECTOR, "h2 a").text
    assert "<script>window.__pwned=1</script>" in title
    assert driver.execute_script("return window.__pwned") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "#alerts script")
    driver.save_screenshot(str(SHOTS / "live-hostile.png"))

    # Its article starts a story: the stories panel shows it live, as text.
    def hostile_story():  # type: ignore[no-untyped-def]
        for story in driver.find_elements(By.CSS_SELECTOR, "#stories li.story"):
            if "window.__pwned" in story.text:
                return story
        return None

    story = _wait(hostile_story, 60, "the hostile story in the stories panel", driver)
    assert driver.find_element(By.ID, "stories").is_displayed()
    assert driver.execute_script("return window.__noReload") is True, "the page reloaded"
    assert not driver.find_elements(By.CSS_SELECTOR, "#stories script")
    story_id = story.get_attribute("data-id")
    assert item.get_attribute("data-story") == story_id
    driver.save_screenshot(str(SHOTS / "live-story.png"))

    # Mute the story from the panel: it and its alert leave the page, still without a reload.
    story.find_element(By.CSS_SELECTOR, "form.mute button").click()

    def story_gone() -> bool:  # removed, or hidden; it may go between the two lookups
        try:
            shown = driver.find_elements(By.ID, f"story-item-{story_id}")
            return not any(element.is_displayed() for element in shown)
        except StaleElementReferenceException:
            return False  # replaced while looked at: look again

    _wait(story_gone, 15, "the muted story to leave the panel", driver)

    def alert_hidden() -> bool:
        try:
            return not item.is_displayed()
        except StaleElementReferenceException:
            return True  # no longer in the page at all

    _wait(alert_hidden, 15, "the muted story's alert to hide", driver)
    assert driver.execute_script("return window.__noReload") is True, "the page reloaded"
    driver.refresh()  # for every viewer: stored in Redis
    _wait(lambda: _alerts(driver), 30, "alerts after the reload", driver)
    assert not driver.find_elements(By.ID, f"story-item-{story_id}")
    assert not [i for i in _alerts(driver) if i.get_attribute("data-story") == story_id]
    assert _severe_logs(driver) == []


def test_filters_narrow_the_list(browser, demo) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(demo.page_url)
    _wait(lambda: _alerts(driver), 30, "alerts", driver)
    link = driver.find_element(By.CSS_SELECTOR, "section[aria-labelledby='f-entity'] li a")
    name = link.find_element(By.CSS_SELECTOR, ".name").text
    link.click()
    _wait(lambda: "entity=" in driver.current_url, 10, "the filtered URL", driver)
    entity = driver.current_url.split("entity=", 1)[1].split("&", 1)[0]
    items = _alerts(driver)
    assert items and all(entity in i.get_attribute("data-entities").split() for i in items)
    current = driver.find_element(By.CSS_SELECTOR, "a[aria-current='true'] .name")
    assert current.text == name
    search = driver.find_element(By.ID, "q")
    search.send_keys("zzzz-no-such-words")
    search.submit()
    _wait(lambda: "q=zzzz" in driver.current_url, 10, "the search URL", driver)
    assert not _alerts(driver)
    assert "No alert matches" in driver.find_element(By.ID, "empty").text


def test_alert_view_opens_with_evidence(browser, demo) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(demo.page_url)
    _wait(lambda: _alerts(driver), 30, "alerts", driver)
    link = _alerts(driver)[0].find_element(By.CSS_SELECTOR, "h2 a")
    title = link.text
    link.click()
    _wait(lambda: "/alerts/" in driver.current_url, 10, "the alert view", driver)
    assert driver.find_element(By.TAG_NAME, "h1").text == title
    assert driver.find_elements(By.CSS_SELECTOR, "mark.entity")
    assert driver.find_elements(By.CSS_SELECTOR, ".evidence .tag.entity")
    driver.save_screenshot(str(SHOTS / "alert-view.png"))
    assert _severe_logs(driver) == []


def test_acknowledge_persists_across_reload(browser, demo) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(demo.page_url)
    _wait(lambda: _alerts(driver), 30, "alerts", driver)
    item = next(i for i in _alerts(driver) if "is-acked" not in i.get_attribute("class"))
    item_id = item.get_attribute("id")
    item.find_element(By.CSS_SELECTOR, "form.ack button").click()
    _wait(
        lambda: "is-acked" in driver.find_element(By.ID, item_id).get_attribute("class"),
        10,
        "the acknowledged state",
        driver,
    )
    driver.refresh()
    again = _wait(lambda: driver.find_elements(By.ID, item_id), 10, "the alert after reload")
    assert "is-acked" in again[0].get_attribute("class")
    assert again[0].find_element(By.CSS_SELECTOR, "form.ack button").text == "Reopen"


def test_phone_width_and_dark_mode_screenshots(browser, demo) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver = browser
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        driver.get(demo.page_url)
        _wait(lambda: _alerts(driver), 30, "alerts", driver)
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark palette
        driver.save_screenshot(str(SHOTS / "page-dark.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    driver.set_window_size(390, 844)
    try:
        driver.get(demo.page_url)
        _wait(lambda: _alerts(driver), 30, "alerts", driver)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth"
        )
        assert not overflow, "the page scrolls sideways on a phone"
        assert driver.find_element(By.ID, "alerts").is_displayed()
        driver.save_screenshot(str(SHOTS / "page-phone.png"))
    finally:
        driver.set_window_size(1280, 1000)
