"""What a person does, in a real browser: sign in, create a python REPL, start it and
watch it come up, open it, edit and save main.py, run it in the terminal, stop it, start
it again to find the edit kept, and delete it."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import screenshot_path, sign_in

RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver(() => {
  document.querySelectorAll('.progress-message').forEach((node) => {
    const text = node.textContent.trim();
    if (text && window.__progress[window.__progress.length - 1] !== text) {
      window.__progress.push(text);
    }
  });
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


async def open_workspace(page: Page, name: str) -> Page:
    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name=f"Open {name}").click()
    workspace = await opened.value
    await expect(workspace.get_by_text("Connected")).to_be_visible(timeout=15000)
    return workspace


async def test_the_whole_story(browser: Browser, portal_url: str) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, portal_url, "alice")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_text("alice", exact=True)).to_be_visible()

    await page.get_by_label("Name").fill("hello")
    await page.get_by_role("radio", name=re.compile("^Python")).check()
    await page.get_by_role("button", name="Create").click()
    row = page.get_by_role("listitem", name="hello")
    await expect(row.get_by_role("status")).to_have_text("stopped")

    await page.evaluate(RECORD_PROGRESS)
    await page.get_by_role("button", name="Start hello").click()
    await expect(row.locator("progress")).to_be_visible()
    await page.screenshot(path=screenshot_path("dashboard-starting"))
    await expect(page.get_by_role("link", name="Open hello")).to_be_visible(timeout=30000)
    await expect(row.get_by_role("status")).to_have_text("running")
    seen = await page.evaluate("window.__progress")
    assert seen, "no progress message was shown"
    await page.screenshot(path=screenshot_path("dashboard-running"))

    workspace = await open_workspace(page, "hello")
    await workspace.get_by_role("button", name="main.py").click()
    editor = workspace.get_by_label("File contents")
    await expect(editor).to_contain_text("def greet")
    # Python is highlighted: the editor marks up its tokens.
    await expect(editor.locator("span").first).to_be_visible()
    await editor.fill('print("edited in the browser")\n')
    await editor.press("Control+s")
    await expect(workspace.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    await workspace.locator(".xterm").click()
    await workspace.keyboard.type("python3 main.py\n")
    await expect(workspace.locator(".xterm-rows")).to_contain_text(
        re.compile(r"python3 main\.py\s*edited in the browser"), timeout=15000)
    await workspace.screenshot(path=screenshot_path("workspace"))
    await workspace.close()

    await page.get_by_role("button", name="Stop hello").click()
    await expect(row.get_by_text("Saving files...")).to_be_visible()
    await expect(row.get_by_role("status")).to_have_text("stopped", timeout=30000)

    await page.get_by_role("button", name="Start hello").click()
    await expect(page.get_by_role("link", name="Open hello")).to_be_visible(timeout=30000)
    workspace = await open_workspace(page, "hello")
    await workspace.get_by_role("button", name="main.py").click()
    await expect(workspace.get_by_label("File contents")).to_have_text(
        'print("edited in the browser")')
    await workspace.close()

    await page.get_by_role("button", name="Stop hello").click()
    await expect(row.get_by_role("status")).to_have_text("stopped", timeout=30000)
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete hello").click()
    await expect(page.get_by_text("No REPLs yet")).to_be_visible()
