"""Chromium for the browser tests and ``make screenshots``, driven by Playwright.

Playwright cannot download its own browsers here, so it drives Debian's
``chromium`` (``apt-get install chromium``), headless, with the flags that
keep it from reaching out to the internet by itself.
"""

import contextlib
import shutil

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class NoChromium(RuntimeError):
    """There is no ``chromium`` command."""


def chromium_path():
    path = shutil.which("chromium")
    if path is None:
        raise NoChromium(
            "there is no chromium to drive: install Debian's package (apt-get install chromium)"
        )
    return path


@contextlib.contextmanager
def chromium():
    """A headless Chromium, closed at the end."""
    # Imported here, not above: Playwright takes a tenth of a second of CPU to
    # import, and every pytest process imports this module when it collects
    # the browser's tests, which most runs then leave out (make test).
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
