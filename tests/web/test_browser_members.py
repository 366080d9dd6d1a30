# SPDX-License-Identifier: Apache-2.0
"""The members' pages in a real browser: headless Chromium (Debian's package) driven by
Playwright, against the running server. Skipped only where no chromium binary exists."""

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Page, async_playwright

from listserv.app import App
from tests.test_subscriptions import ALICE, setup_list
from tests.web.members import delivery, one_click_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on this machine (apt-get install -y chromium)")


@dataclass
class Tab:
    """A browser tab, and what it reported breaking the Content Security Policy (no inline
    style or script may run on any page)."""

    page: Page
    violations: list[str] = field(default_factory=list)


@pytest.fixture
async def tab(app: App) -> AsyncIterator[Tab]:
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opened = Tab(await browser.new_page())
        opened.page.on("console", lambda message: opened.violations.append(message.text)
                       if "Content Security Policy" in message.text else None)
        yield opened
        await browser.close()


async def test_opening_the_one_click_link_keeps_the_member_and_the_button_unsubscribes(
        app: App, tab: Tab) -> None:
    await setup_list(app, (ALICE,))
    page = tab.page
    url = f"http://127.0.0.1:{app.http_port}{await one_click_path(app, ALICE)}"
    opened = await page.goto(url)
    assert opened is not None and opened.status == 200
    await page.get_by_role("heading", name="Leave Operations Excellence?").wait_for()
    assert await delivery(app, ALICE) == "regular enabled"
    await page.get_by_role("button", name="Unsubscribe").click()
    await page.get_by_role("heading", name="Unsubscribed").wait_for()
    assert await delivery(app, ALICE) is None
    assert tab.violations == []


async def test_the_preferences_form_passes_the_csrf_defence_from_a_real_browser(
        app: App, tab: Tab) -> None:
    await setup_list(app, (ALICE,))
    page = tab.page
    url = f"http://127.0.0.1:{app.http_port}{await one_click_path(app, ALICE)}"
    await page.goto(url)
    await page.get_by_role("link", name="change how you receive the list").click()
    await page.get_by_label("plain-text digests").check()
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("alice@example.org receives plain-text digests.").wait_for()
    assert await delivery(app, ALICE) == "digest-plain enabled"
    assert tab.violations == []
