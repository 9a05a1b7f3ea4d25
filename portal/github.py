"""GitHub OAuth sign-in through authlib: the authorization URL, the code exchange, and the
profile (`/user` plus the primary address from `/user/emails`)."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from portal.models import User
from portal.settings import Settings

_SCOPE = "read:user user:email"
_TIMEOUT = httpx.Timeout(10.0)


class SignInError(Exception):
    """Sign-in could not finish; the message is safe to show to the person."""


class GitHubOAuth:
    def __init__(self, settings: Settings) -> None:
        self.client_id = settings.github_client_id or ""
        self._client_secret = settings.github_client_secret or ""
        self.redirect_url = settings.github_redirect_url or ""
        self.authorize_endpoint = f"{settings.github_url}/login/oauth/authorize"
        self.token_endpoint = f"{settings.github_url}/login/oauth/access_token"
        self.api_url = settings.github_api_url

    def _client(self, token: dict[str, Any] | None = None) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=self.redirect_url,
            scope=_SCOPE,
            # GitHub documents the client credentials as form fields of the exchange.
            token_endpoint_auth_method="client_secret_post",  # noqa: S106
            token=token,
            timeout=_TIMEOUT,
            headers={"Accept": "application/json"},
        )

    def authorize_url(self, state: str) -> str:
        url, _ = self._client().create_authorization_url(self.authorize_endpoint, state=state)
        return str(url)

    async def fetch_profile(self, code: str) -> User:
        """Exchange the code for a token, then read who it belongs to."""
        async with self._client() as client:
            try:
                token = await client.fetch_token(self.token_endpoint, code=code)
            except OAuthError as exc:
                raise SignInError(f"GitHub refused the sign-in code ({exc.error}).") from None
            except (httpx.HTTPError, ValueError) as exc:
                raise SignInError(
                    f"Could not reach GitHub to finish signing in ({type(exc).__name__})."
                ) from None
            if "access_token" not in token:
                raise SignInError("GitHub answered without an access token.")
            try:
                user = await self._get_json(client, "/user")
                emails = await self._get_json(client, "/user/emails")
            except (httpx.HTTPError, ValueError) as exc:
                raise SignInError(
                    f"Could not read your GitHub profile ({type(exc).__name__})."
                ) from None
        if not isinstance(user, dict) or "id" not in user or "login" not in user:
            raise SignInError("GitHub answered with a profile that has no id or login.")
        primary = ""
        if isinstance(emails, list):
            primary = next(
                (e.get("email", "") for e in emails if isinstance(e, dict) and e.get("primary")),
                "",
            )
        return User(
            id=str(user["id"]),
            login=str(user["login"]),
            name=str(user.get("name") or ""),
            email=str(primary or user.get("email") or ""),
            avatar_url=str(user.get("avatar_url") or ""),
            created_at=str(user.get("created_at") or ""),
        )

    async def _get_json(self, client: AsyncOAuth2Client, path: str) -> Any:
        response = await client.get(
            self.api_url + path, headers={"Accept": "application/vnd.github+json"}
        )
        response.raise_for_status()
        return response.json()
