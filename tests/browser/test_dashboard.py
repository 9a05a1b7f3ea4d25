"""The dashboard in a real browser: errors where a person looks for them, two tabs that
agree, a narrow screen, keyboard use, names for every control, other people's REPLs,
and forms another site cannot submit."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from playwright.async_api import Browser, Page, expect
from quart import Quart

from tests.browser.conftest import screenshot_path, sign_in
from tests.conftest import MakeSettings
from tests.support.live import live_portal
from tests.support.processes import free_port


async def create(page: Page, name: str) -> None:
    await page.get_by_label("Name").fill(name)
    await page.get_by_role("button", name="Create").click()


async def test_a_bad_name_is_explained_next_to_the_field(browser: Browser, portal_url: str) -> None:
    page = await browser.new_page()
    await sign_in(page, portal_url, "alice")
    await create(page, "has spaces")
    error = page.locator("#name-error")
    await expect(error).to_have_text(re.compile("may contain only letters"))
    await expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Name")).to_have_value("has spaces")
    await expect(page.get_by_text("No REPLs yet")).to_be_visible()


async def test_the_quota_is_explained_above_the_form(
    browser: Browser, make_settings: MakeSettings
) -> None:
    async with live_portal(make_settings(DEVEX_MAX_REPLS_PER_USER=1)) as base:
        page = await browser.new_page()
        await sign_in(page, base, "alice")
        await create(page, "first")
        await expect(page.get_by_role("listitem", name="first")).to_be_visible()
        await create(page, "second")
        problem = page.locator("#create-problem")
        await expect(problem).to_have_text("REPL limit reached: you can have at most 1 REPLs")
        above = await page.evaluate(
            "document.querySelector('#create-problem').compareDocumentPosition("
            "document.querySelector('#repl-name')) & Node.DOCUMENT_POSITION_FOLLOWING")
        assert above


async def test_a_second_tab_sees_the_same_changes(browser: Browser, portal_url: str) -> None:
    context = await browser.new_context()
    first = await context.new_page()
    await sign_in(first, portal_url, "alice")
    await create(first, "shared")
    second = await context.new_page()
    await second.goto(f"{portal_url}/dashboard")
    other_row = second.get_by_role("listitem", name="shared")
    await expect(other_row.get_by_role("status")).to_have_text("stopped")

    await first.get_by_role("button", name="Start shared").click()
    await expect(other_row.get_by_role("link", name="Open shared")).to_be_visible(timeout=30000)
    await first.get_by_role("button", name="Stop shared").click()
    await expect(other_row.get_by_role("status")).to_have_text("stopped", timeout=30000)
    await expect(other_row.get_by_role("button", name="Start shared")).to_be_visible()


async def test_the_pages_fit_a_375_pixel_screen(browser: Browser, portal_url: str) -> None:
    page = await browser.new_page(viewport={"width": 375, "height": 740})
    await sign_in(page, portal_url, "alice")
    await create(page, "narrow-screen-repl-with-a-long-name")
    await page.get_by_role("button", name=re.compile("^Start")).click()
    await expect(page.get_by_role("link", name=re.compile("^Open"))).to_be_visible(timeout=30000)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.screenshot(path=screenshot_path("dashboard-375"), full_page=True)
    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name=re.compile("^Open")).click()
    workspace = await opened.value
    await workspace.set_viewport_size({"width": 375, "height": 740})
    await expect(workspace.get_by_text("Connected")).to_be_visible(timeout=15000)
    await workspace.get_by_role("button", name="main.py").click()
    await expect(workspace.get_by_label("File contents")).to_contain_text("def greet")
    assert await workspace.evaluate("document.documentElement.scrollWidth") <= 375
    # The editor keeps a usable height when the page stacks its panels.
    box = await workspace.locator("#editor .cm-editor").bounding_box()
    assert box is not None and box["height"] >= 200 and box["width"] <= 375
    await workspace.screenshot(path=screenshot_path("workspace-375"), full_page=True)


async def test_everything_works_from_the_keyboard(browser: Browser, portal_url: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{portal_url}/login")
    await page.keyboard.press("Tab")  # the skip link
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.type("keyboarder")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{portal_url}/dashboard")
    await page.get_by_label("Name").focus()
    await page.keyboard.type("typed")
    await page.keyboard.press("Enter")
    row = page.get_by_role("listitem", name="typed")
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Start typed").focus()
    await page.keyboard.press("Enter")
    await expect(row.get_by_role("link", name="Open typed")).to_be_visible(timeout=30000)


NAMELESS = """
() => [...document.querySelectorAll('button, a, input:not([type=hidden]), textarea, select')]
  .filter((el) => {
    const label = el.getAttribute('aria-label') || el.textContent.trim() ||
      (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim()) ||
      el.closest('label')?.textContent.trim();
    return !label;
  }).map((el) => el.outerHTML.slice(0, 80))
"""


async def test_every_control_has_an_accessible_name(browser: Browser, portal_url: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{portal_url}/login")
    assert await page.evaluate(NAMELESS) == []
    await sign_in(page, portal_url, "alice")
    await create(page, "named")
    await page.get_by_role("button", name="Start named").click()
    await expect(page.get_by_role("link", name="Open named")).to_be_visible(timeout=30000)
    assert await page.evaluate(NAMELESS) == []
    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name="Open named").click()
    workspace = await opened.value
    await expect(workspace.get_by_text("Connected")).to_be_visible(timeout=15000)
    assert await workspace.evaluate(NAMELESS) == []


async def test_another_users_repl_is_not_found(browser: Browser, portal_url: str) -> None:
    owner = await (await browser.new_context()).new_page()
    await sign_in(owner, portal_url, "alice")
    await create(owner, "private")
    repl_id = await owner.get_by_role("listitem", name="private").get_attribute("data-repl-id")
    intruder = await (await browser.new_context()).new_page()
    await sign_in(intruder, portal_url, "mallory")
    for path in (f"/dashboard/repls/{repl_id}/open", f"/dashboard/repls/{repl_id}/row"):
        response = await intruder.goto(f"{portal_url}{path}")
        assert response is not None and response.status == 404
        await expect(intruder.get_by_role("heading", name="Not found")).to_be_visible()


async def test_a_form_posted_from_another_site_is_refused(
    browser: Browser, portal_url: str
) -> None:
    evil = Quart("evil")

    @evil.get("/")
    async def page() -> str:
        return (f'<form id="f" method="post" action="{portal_url}/dashboard/repls">'
                '<input name="name" value="planted"><input name="template" value="python">'
                '</form><script>document.getElementById("f").submit()</script>')

    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    stop = asyncio.Event()
    server = asyncio.create_task(serve(evil, config, shutdown_trigger=stop.wait))
    await asyncio.sleep(0.3)
    try:
        context = await browser.new_context()
        victim = await context.new_page()
        await sign_in(victim, portal_url, "alice")
        attacked = await context.new_page()
        async with attacked.expect_response(f"{portal_url}/dashboard/repls") as answer:
            await attacked.goto(f"http://localhost:{port}/")
        assert (await answer.value).status == 403
        await victim.reload()
        await expect(victim.get_by_text("No REPLs yet")).to_be_visible()
    finally:
        stop.set()
        await server


async def test_a_stop_that_cannot_save_says_why_and_can_be_tried_again(
    browser: Browser, make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base:
        page = await browser.new_page()
        await sign_in(page, base, "alice")
        await create(page, "fragile")
        row = page.get_by_role("listitem", name="fragile")
        await page.get_by_role("button", name="Start fragile").click()
        await expect(page.get_by_role("link", name="Open fragile")).to_be_visible(timeout=30000)

        # A file takes the place of the REPL's folder in storage, so saving fails.
        repl_id = await row.get_attribute("data-repl-id")
        stored = tmp_path / "data" / "files" / "alice" / str(repl_id)
        moved = stored.with_name("moved-away")
        stored.rename(moved)
        stored.write_text("in the way")
        await page.get_by_role("button", name="Stop fragile").click()
        reason = row.get_by_role("alert")
        await expect(reason).to_contain_text("could not save the files", timeout=30000)
        await expect(reason).to_contain_text("the REPL keeps running, try stopping again")
        await expect(row.get_by_role("status")).to_have_text("running")
        await page.reload()
        await expect(reason).to_contain_text("the REPL keeps running")
        await page.screenshot(path=screenshot_path("dashboard-stop-failed"))

        stored.unlink()
        moved.rename(stored)
        await page.get_by_role("button", name="Stop fragile").click()
        await expect(row.get_by_role("status")).to_have_text("stopped", timeout=30000)
        await expect(reason).to_have_count(0)
        assert (stored / "main.py").read_text().startswith('"""Your Devex REPL.')
