# SPDX-License-Identifier: Apache-2.0
"""The archive's pages in a real headless Chromium (Debian's, driven by Playwright):
they render, follow their links without script, and a post's HTML runs nothing."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright

from listserv.app import App
from listserv.core import urls
from tests.test_post_path import setup_list
from tests.web.test_archive_pages import LIST, archived, stored

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Every way this post tries to run script: each would set window.pwned or the title.
HOSTILE = """<p>Quarterly <b>numbers</b></p>
<script>document.title = "pwned"; window.pwned = "script";</script>
<img src=x onerror="window.pwned = 'img'; alert('img')">
<svg><script>window.pwned = "svg"</script></svg><svg onload="window.pwned = 'onload'"></svg>
<iframe srcdoc="<script>parent.pwned = 'iframe'</script>"></iframe>
<a id="js" href="javascript:window.pwned = 'link'">a link</a>
<div onmouseover="window.pwned = 'hover'">hover here</div>
<object data="javascript:window.pwned = 'object'"></object>
<math><mi xlink:href="javascript:window.pwned = 'math'">x</mi></math>
<form action="javascript:window.pwned = 'form'"><button id="go">go</button></form>
<style>body { background: url(https://evil.example/track) }</style>
<base href="https://evil.example/">
<meta http-equiv="refresh" content="0; url=https://evil.example/">
<img src="https://evil.example/pixel.png">"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless; the tests skip when it is not installed."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium binary: install Debian's chromium (apt-get install chromium) "
                    "to run the browser tests")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield launched
        await launched.close()


class Watched:
    """A page with what it did recorded: dialogs, requests, CSP complaints."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.console: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: self.console.append(message.text))

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()


async def watched(browser: Browser) -> Watched:
    return Watched(await browser.new_page(viewport={"width": 1000, "height": 800}))


def base(app: App) -> str:
    return f"http://127.0.0.1:{app.http_port}"


async def test_a_posts_html_cannot_run_script_on_its_page(app: App, browser: Browser,
                                                          tmp_path: Path) -> None:
    await setup_list(app, archive_visibility="public")
    raw = (b"From: Mallory <mallory@example.net>\r\nSubject: Numbers\r\nMessage-ID: <h@x>\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n" + HOSTILE.encode())
    await archived(app, raw)
    for path in (urls.message_path(LIST, "<h@x>"), urls.thread_path(LIST, 1)):
        seen = await watched(browser)
        await seen.page.goto(base(app) + path)
        await seen.page.screenshot(path=tmp_path / "hostile.png", full_page=True)
        assert await seen.page.title() == "Numbers · Operations Excellence"
        assert await seen.page.evaluate("window.pwned") is None
        assert await seen.page.locator(".html-body b").inner_text() == "numbers"
        await seen.page.hover("text=hover here")
        await seen.page.click("text=a link")
        await seen.page.click("text=go")
        await seen.page.wait_for_load_state()
        assert seen.page.url == base(app) + path
        assert await seen.page.evaluate("window.pwned") is None
        assert seen.dialogs == []
        assert [url for url in seen.requests if not url.startswith(base(app))] == []
        await seen.page.close()


async def test_the_list_and_message_pages_render_and_link_without_script(
        app: App, browser: Browser, tmp_path: Path) -> None:
    await setup_list(app, archive_visibility="public")
    await archived(app, stored("<a@x>", subject="Valve seals", body="Which seals?\r\n"),
                   stored("<b@x>", subject="Re: Valve seals", author="Bob <bob@example.net>",
                          headers="In-Reply-To: <a@x>\r\n", body="> Which seals?\r\nViton.\r\n"))
    seen = await watched(browser)
    page = seen.page
    await page.goto(base(app) + urls.list_path(LIST))
    await page.screenshot(path=tmp_path / "list.png", full_page=True)
    assert await page.locator("h1").inner_text() == "Operations Excellence"
    assert await page.locator("table.threads tbody tr").count() == 1
    await page.click("text=Valve seals")
    assert page.url == base(app) + urls.thread_path(LIST, 1)
    assert await page.locator("article.post").count() == 2
    await page.click("text=Re: Valve seals")
    await page.screenshot(path=tmp_path / "message.png", full_page=True)
    assert page.url == base(app) + urls.message_path(LIST, "<b@x>")
    assert (await page.locator(".body").inner_text()).strip() == "> Which seals?\nViton."
    assert await page.locator(".author").inner_text() == "Bob <bob at example.net>"
    await page.click("text=Valve seals >> nth=-1")  # previous in thread
    assert page.url == base(app) + urls.message_path(LIST, "<a@x>")
    await page.fill("input[name=q]", "viton")
    await page.click("button[type=submit]")
    assert await page.locator("ol.hits mark").inner_text() == "Viton"
    # The pages keep to their own Content-Security-Policy: nothing was refused.
    assert [text for text in seen.console if "Content Security Policy" in text] == []
    assert seen.dialogs == []
