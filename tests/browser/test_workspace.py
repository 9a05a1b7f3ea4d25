"""The workspace page in a real browser: files and folders made, renamed and deleted from
the tree, and a terminal that follows the window's size."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import sign_in
from tests.conftest import MakeSettings
from tests.support.live import live_portal


async def open_new_repl(browser: Browser, base: str, name: str) -> tuple[Page, str]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base, "alice")
    await page.get_by_label("Name").fill(name)
    await page.get_by_role("button", name="Create").click()
    row = page.get_by_role("listitem", name=name)
    repl_id = await row.get_attribute("data-repl-id")
    assert repl_id is not None
    await page.get_by_role("button", name=f"Start {name}").click()
    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name=f"Open {name}").click(timeout=30000)
    workspace = await opened.value
    await expect(workspace.get_by_text("Connected")).to_be_visible(timeout=15000)
    return workspace, repl_id


async def open_main_py(workspace: Page) -> Locator:
    """Open the template's main.py; answers the editor, showing it."""
    await workspace.get_by_role("button", name="main.py").click()
    editor = workspace.get_by_label("File contents")
    await expect(editor).to_contain_text("def greet")
    return editor


async def answer(page: Page, text: str) -> None:
    await page.get_by_role("textbox", name=re.compile("name|to")).fill(text)
    await page.get_by_role("button", name="OK").click()


async def test_files_and_folders_from_the_tree(
    browser: Browser, make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base:
        workspace, repl_id = await open_new_repl(browser, base, "files")
        root = tmp_path / "data" / "workspaces" / repl_id

        await workspace.get_by_role("button", name="New folder").click()
        await answer(workspace, "src")
        await expect(workspace.get_by_role("treeitem", name="src")).to_be_visible()
        await workspace.get_by_role("button", name="New file").click()
        await answer(workspace, "app.py")
        editor = workspace.get_by_label("File contents")
        await expect(workspace.get_by_role("heading", name="src/app.py")).to_be_visible()
        await editor.fill("print('app')\n")
        await workspace.get_by_role("button", name="Save").click()
        await expect(workspace.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        assert (root / "src" / "app.py").read_text() == "print('app')\n"

        await workspace.get_by_role("button", name="app.py").click()
        await workspace.get_by_role("button", name="Rename").click()
        await answer(workspace, "tool.py")
        await expect(workspace.get_by_role("button", name="tool.py")).to_be_visible()
        assert (root / "src" / "tool.py").exists() and not (root / "src" / "app.py").exists()

        workspace.once("dialog", lambda dialog: dialog.accept())
        await workspace.get_by_role("button", name="src", exact=True).click()
        await workspace.get_by_role("button", name="Delete").click()
        await expect(workspace.get_by_role("treeitem", name="src")).to_have_count(0)
        assert not (root / "src").exists()

        await workspace.get_by_role("link", name="Devex: back to your REPLs").click()
        await workspace.wait_for_url(f"{base}/dashboard")
        await expect(workspace.get_by_role("listitem", name="files")).to_be_visible()


async def test_the_terminal_follows_the_window_size(
    browser: Browser, make_settings: MakeSettings
) -> None:
    async with live_portal(make_settings()) as base:
        workspace, _ = await open_new_repl(browser, base, "term")

        async def size(marker: str) -> tuple[int, int]:
            await workspace.locator(".xterm").click()
            await workspace.keyboard.type(f"echo {marker} $(stty size)\n")
            rows = workspace.locator(".xterm-rows")
            pattern = rf"\)\s*{marker} (\d+) (\d+)"
            await expect(rows).to_contain_text(re.compile(pattern))
            found = re.search(pattern, await rows.inner_text())
            assert found is not None
            return int(found.group(1)), int(found.group(2))

        wide = await size("WIDE")
        await workspace.set_viewport_size({"width": 700, "height": 900})
        await workspace.wait_for_timeout(500)
        narrow = await size("NARROW")
        assert narrow[1] < wide[1]


async def test_the_editor_indents_with_tab_and_lets_the_keyboard_out(
    browser: Browser, make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base:
        workspace, repl_id = await open_new_repl(browser, base, "keys")
        editor = await open_main_py(workspace)
        await editor.press("Control+a")
        await workspace.keyboard.type("if True:\n")
        await workspace.keyboard.press("Tab")
        await workspace.keyboard.type("pass")
        await workspace.keyboard.press("Control+s")
        await expect(workspace.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        saved = (tmp_path / "data" / "workspaces" / repl_id / "main.py").read_text()
        assert re.fullmatch(r"if True:\n {4,8}pass", saved), repr(saved)

        # Escape, then Tab, moves on to the next control instead of indenting (the first
        # Escape closes the completion list that typing "pass" opened).
        await workspace.keyboard.press("Escape")
        await workspace.keyboard.press("Escape")
        await workspace.keyboard.press("Tab")
        focused = await workspace.evaluate("document.activeElement.getAttribute('aria-label')")
        assert focused != "File contents"
        assert (tmp_path / "data" / "workspaces" / repl_id / "main.py").read_text() == saved


async def test_a_stopped_workspace_says_so_and_keeps_unsaved_text(
    browser: Browser, make_settings: MakeSettings
) -> None:
    async with live_portal(make_settings()) as base:
        workspace, repl_id = await open_new_repl(browser, base, "stops")
        editor = await open_main_py(workspace)
        await editor.fill("typed after the last save\n")

        stopped = await workspace.context.request.delete(f"{base}/api/repl/session/{repl_id}")
        assert stopped.status == 200
        await expect(workspace.get_by_text("This workspace is not running")).to_be_visible(
            timeout=15000)
        await workspace.get_by_role("button", name="Save").click()
        await expect(workspace.get_by_role("status").filter(
            has_text="Not saved: not connected")).to_be_visible()
        await expect(editor).to_have_text("typed after the last save")
