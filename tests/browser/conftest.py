"""The browser tests' real processes (tests/browser/stack.py) and ONE Chromium for the
whole session: Debian's /usr/bin/chromium driven by Playwright (never a downloaded
browser). Each test gets a fresh browser context (its own cookies) and signs in.

The trust framework's pages are served with the test federation's own CA, which this
Chromium does not know: contexts ignore certificate errors (the portal itself verifies
the trust framework and the nodes with the CA bundle)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import Stack, start

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "portal"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]

if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (Debian's chromium package: "
                "apt-get install -y chromium; .ci/run installs it)", allow_module_level=True)
if sync_playwright is None:
    pytest.skip("playwright is not installed (pip install -e '.[test]')",
                allow_module_level=True)
if not AXE.exists():
    pytest.skip("axe-core is not installed: cd tests/browser && npm ci",
                allow_module_level=True)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start(tmp_path_factory.mktemp("portal-fed"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        args = ["--lang=en-GB", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  locale="en-GB")
    context.set_default_timeout(60_000)  # 2 cores shared: generous
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, stack: Stack, member: str, node_url: str) -> None:
    """Sign `member`'s admin in through the portal and the trust framework's login page."""
    m = stack.fed.members[member]
    page.goto(f"{stack.portal.url}/login")
    page.get_by_label("Node to work through").select_option(node_url)
    page.get_by_role("button", name="Sign in at the trust framework").click()
    page.wait_for_url(f"{stack.fed.issuer}/authorize**")
    page.get_by_label("E-mail").fill(m.email)
    page.get_by_label("Password").fill(m.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.portal.url}/")


def check_accessibility(page: Page) -> None:
    """axe-core (from the npm package, injected from disk) finds no violation. Evaluated
    through the DevTools protocol, which the page's CSP does not govern."""
    page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    summary = [{"id": v["id"], "impact": v["impact"],
                "nodes": [n["html"][:120] for n in v["nodes"][:3]]} for v in found]
    assert not found, json.dumps(summary, indent=1)


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
