"""Signing in with GitHub in a real browser, through the GitHub stand-in's consent page:
the person lands on the dashboard with their name and avatar, and a declined consent or
a stale link is explained on the sign-in page, with nobody signed in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import screenshot_path
from tests.conftest import MakeSettings, signin_settings
from tests.support.live import live_portal
from tests.support.processes import ServerProcess


@pytest.fixture
async def github_portal(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> AsyncIterator[str]:
    async with live_portal(signin_settings(make_settings, github_standin)) as base:
        yield base


async def press_sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/login")
    await expect(page.get_by_label("Username")).to_have_count(0)
    await page.get_by_role("button", name="Sign in with GitHub").click()
    await expect(page.get_by_role("heading", name="Authorize the Devex portal")).to_be_visible()


async def expect_signed_out(page: Page, base: str) -> None:
    await page.goto(f"{base}/dashboard")
    await page.wait_for_url(f"{base}/login")


async def image_loaded(page: Page, selector: str) -> bool:
    loaded: bool = await page.locator(selector).evaluate(
        "(img) => img.complete && img.naturalWidth > 0")
    return loaded


async def test_github_sign_in_shows_the_name_and_avatar(
    browser: Browser, github_portal: str
) -> None:
    page = await browser.new_page()
    await press_sign_in(page, github_portal)
    await page.get_by_label("Sign in to GitHub as").fill("mona")
    await page.get_by_role("button", name="Authorize").click()

    await page.wait_for_url(f"{github_portal}/dashboard")
    await expect(page.get_by_text("Mona Tester", exact=True)).to_be_visible()
    await expect(page.locator("img.avatar")).to_be_visible()
    assert await image_loaded(page, "img.avatar"), "the avatar did not load"
    await page.screenshot(path=screenshot_path("dashboard-github"))

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{github_portal}/login")
    await expect_signed_out(page, github_portal)


async def test_declining_on_github_is_explained_on_the_sign_in_page(
    browser: Browser, github_portal: str
) -> None:
    page = await browser.new_page()
    await press_sign_in(page, github_portal)
    await page.get_by_role("button", name="Cancel").click()

    await expect(page.get_by_role("alert")).to_have_text(
        "You declined access on GitHub, so you are not signed in.")
    await expect(page.get_by_role("button", name="Sign in with GitHub")).to_be_visible()
    await expect_signed_out(page, github_portal)


async def test_a_stale_sign_in_link_is_explained_on_the_sign_in_page(
    browser: Browser, github_portal: str
) -> None:
    page = await browser.new_page()
    # A callback this browser never started, as from an old tab or another site.
    await page.goto(f"{github_portal}/auth/github/callback?code=abc&state=not-ours")

    await expect(page.get_by_role("alert")).to_have_text(
        "This sign-in link has expired or did not start here. Please sign in again.")
    await expect(page.get_by_role("button", name="Sign in with GitHub")).to_be_visible()
    await expect_signed_out(page, github_portal)
