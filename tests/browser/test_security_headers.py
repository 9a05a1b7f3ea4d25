"""Every page carries the security headers, and the pages satisfy their own
Content-Security-Policy in a real browser (no violation is reported)."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import sign_in

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


async def violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__violations")
    return found


async def test_pages_keep_their_content_security_policy(
    browser: Browser, portal_url: str
) -> None:
    context = await browser.new_context()
    await context.add_init_script(RECORD_VIOLATIONS)
    page = await context.new_page()
    login = await page.goto(f"{portal_url}/login")
    assert login is not None
    headers = login.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert await violations(page) == []

    await sign_in(page, portal_url, "alice")
    await page.get_by_label("Name").fill("csp")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_role("button", name="Start csp").click()
    await expect(page.get_by_role("link", name="Open csp")).to_be_visible(timeout=30000)
    assert await violations(page) == []

    async with context.expect_page() as opened:
        await page.get_by_role("link", name="Open csp").click()
    workspace = await opened.value
    await expect(workspace.get_by_text("Connected")).to_be_visible(timeout=15000)
    await workspace.get_by_role("button", name="main.py").click()
    await expect(workspace.get_by_label("File contents")).to_contain_text("greet")
    assert await violations(workspace) == []
    response = await workspace.reload()
    assert response is not None
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
