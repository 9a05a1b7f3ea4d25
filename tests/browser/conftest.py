"""A real headless Chromium (Debian's, driven by Playwright) against a portal the tests
start on the embedded defaults. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from portal.settings import PROJECT_ROOT
from tests.conftest import MakeSettings
from tests.support.live import live_portal

SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("Debian's chromium is not installed; `make test` installs it")
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def portal_url(make_settings: MakeSettings) -> AsyncIterator[str]:
    async with live_portal(make_settings()) as base:
        yield base


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


async def sign_in(page: Page, base: str, login: str) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("Username").fill(login)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/dashboard")
