"""Headless Chromium for the HTML page: the browser test and `netstat report`'s
screenshots (reports/figures/*_page.png) both open pages here.

Debian's `chromium` and `chromium-driver` (/usr/bin/chromium,
/usr/bin/chromedriver) driven by Selenium (the `test` extra). `missing()`
says in one sentence what is absent, so that a caller can skip with that
reason; nothing here downloads a browser or a driver.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
WINDOW = (1400, 1000)


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if os.path.exists(path):
            return path
    return shutil.which(name)


def missing() -> str | None:
    """None when a page can be opened here, else why not (one sentence)."""
    if _first(CHROMIUM, "chromium") is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver)."
    if _first(DRIVER, "chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver)."
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "Selenium is not installed (pip install 'netstat[test]')."
    return None


@contextlib.contextmanager
def chromium(width: int = WINDOW[0], height: int = WINDOW[1]) -> Iterator[Any]:
    """A headless Chromium (a Selenium driver) with its console and network
    logs on, closed at the end of the block."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium") or CHROMIUM[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--hide-scrollbars", "--force-device-scale-factor=1", "--font-render-hinting=none", "--disable-extensions",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(_first(DRIVER, "chromedriver") or DRIVER[0]), options=options)
    try:
        driver.set_page_load_timeout(120)
        driver.set_script_timeout(120)
        yield driver
    finally:
        driver.quit()


def load(driver: Any, path: str | Path, timeout: float = 120.0) -> float:
    """Open the page at `path` and wait until its script has drawn it
    (body[data-ready]); returns the seconds from navigation to ready."""
    started = time.perf_counter()
    driver.get(Path(path).resolve().as_uri())
    while driver.execute_script("return document.body && document.body.dataset.ready") != "1":
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"The page {path} was not ready after {timeout:.0f} s.")
        time.sleep(0.05)
    return time.perf_counter() - started


def screenshot(page: str | Path, png: str | Path, script: str | None = None, element: str | None = None, height: int = 1100) -> None:
    """A PNG of the page at `page` written atomically: the window's top
    `height` pixels, or the element with id `element`; `script` (JavaScript)
    runs first (open a node, select another)."""
    from netstat.atomic import atomic_write

    with chromium(WINDOW[0], height) as driver:
        load(driver, page)
        if script:
            driver.execute_script(script)
        time.sleep(0.2)
        if element:
            data = driver.find_element("id", element).screenshot_as_png
        else:
            data = driver.get_screenshot_as_png()
    atomic_write(png, lambda handle: handle.write(data), binary=True)
