"""Settings come from the environment and a wrong one stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from portal.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"PORT": "eighty"}, "PORT: Input should be a valid integer"),
        ({"DEVEX_MAX_REPLS_PER_USER": "0"}, "DEVEX_MAX_REPLS_PER_USER: Input should be greater"),
        ({"FRONTEND_URL": "ide.example"}, "FRONTEND_URL: Value error, must be an http"),
        ({"GITHUB_CLIENT_ID": "x", "GITHUB_CLIENT_SECRET": "y"},
         "GITHUB_REDIRECT_URL: required when any GITHUB_* setting is set"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT: Input should be"),
        ({"ENVIRONMENT": "production", "GITHUB_CLIENT_ID": "a", "GITHUB_CLIENT_SECRET": "b",
          "GITHUB_REDIRECT_URL": "https://devex.example/auth/github/callback"},
         "SESSION_SECRET: production needs a random secret"),
        ({"ENVIRONMENT": "production", "SESSION_SECRET": "short"},
         "SESSION_SECRET: production needs a random secret of at least 32 characters"),
        ({"ENVIRONMENT": "production", "SESSION_SECRET": "s" * 40},
         "GITHUB_CLIENT_ID: production needs GitHub sign-in"),
        ({"S3_BUCKET": "b", "S3_ACCESS_KEY": "k"}, "S3_SECRET_KEY: required"),
        ({"DEVEX_PUBLIC_URL": "devex.example"}, "DEVEX_PUBLIC_URL: Value error, must be an http"),
    ],
)
def test_a_wrong_setting_is_named_in_one_line(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.redis_url is None and settings.s3_bucket is None
    assert settings.dev_login_enabled and not settings.production
    assert settings.max_repls_per_user == 5


def test_production_with_a_strong_secret_and_github_starts() -> None:
    settings = load_settings({
        "ENVIRONMENT": "production", "SESSION_SECRET": "x" * 48,
        "GITHUB_CLIENT_ID": "a", "GITHUB_CLIENT_SECRET": "b",
        "GITHUB_REDIRECT_URL": "https://devex.example/auth/github/callback",
    })
    assert settings.production and not settings.dev_login_enabled


def test_the_devex_command_refuses_to_start_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVEX_", "GITHUB_", "S3_"))}
    env.update({"ENVIRONMENT": "production", "SESSION_SECRET": "too-short"})
    result = subprocess.run(
        [sys.executable, "-m", "portal", "serve"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "devex: SESSION_SECRET: production needs a random secret of at least 32 characters"
    )
