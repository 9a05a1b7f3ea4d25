"""A GitHub stand-in for sign-in tests, run as its own server process.

It speaks the parts of GitHub's OAuth web flow and REST API the portal uses:
`/login/oauth/authorize`, `/login/oauth/access_token`, `/user` and `/user/emails`.
A test picks who signs in, or what goes wrong, with extra query parameters on the
authorize URL: `as=<login>`, `deny=1`, `exchange=bad|500`. A browser (asking for HTML)
without them gets a consent page instead, as on GitHub: a login field, "Authorize" and
"Cancel". Avatars are small PNGs served at `/avatars/<login>.png`.

Usage: python -m tests.support.github_standin PORT CLIENT_ID CLIENT_SECRET
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import secrets
import struct
import sys
import zlib
from typing import Any
from urllib.parse import urlencode

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, redirect, request
from quart.typing import ResponseReturnValue


def user_id_for(login: str) -> int:
    return int(hashlib.sha256(login.encode()).hexdigest()[:8], 16)


def avatar_png(login: str, size: int = 8) -> bytes:
    """A square of one colour picked from the login, as a valid PNG."""
    red, green, blue = hashlib.sha256(login.encode()).digest()[:3]
    rows = b"".join(b"\x00" + bytes((red, green, blue)) * size for _ in range(size))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


CONSENT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Authorize application</title></head><body><main>
<h1>Authorize the Devex portal</h1>
<form method="get" action="/login/oauth/authorize">{hidden}
<label for="as">Sign in to GitHub as</label> <input id="as" name="as" value="octocat">
<button type="submit">Authorize</button>
<button type="submit" name="deny" value="1">Cancel</button>
</form></main></body></html>"""


def build(client_id: str, client_secret: str) -> Quart:
    app = Quart(__name__)
    codes: dict[str, str] = {}  # code -> login, or "!500" for a failing exchange
    tokens: dict[str, str] = {}  # access token -> login

    @app.get("/login/oauth/authorize")
    async def authorize() -> ResponseReturnValue:
        args = request.args
        if args.get("client_id") != client_id or args.get("response_type") != "code":
            return {"error": "bad authorize request"}, 400
        back = args["redirect_uri"]
        state = args.get("state", "")
        decided = any(key in args for key in ("as", "deny", "exchange"))
        if not decided and "text/html" in request.headers.get("Accept", ""):
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
                for key, value in args.items(multi=True))
            return CONSENT_PAGE.format(hidden=hidden)
        if args.get("deny"):
            query = {"error": "access_denied", "error_description": "The user has denied",
                     "state": state}
            return redirect(f"{back}?{urlencode(query)}")
        code = secrets.token_hex(10)
        exchange = args.get("exchange")
        if exchange == "500":
            codes[code] = "!500"
        elif exchange != "bad":
            codes[code] = args.get("as", "octocat")
        return redirect(f"{back}?{urlencode({'code': code, 'state': state})}")

    @app.post("/login/oauth/access_token")
    async def access_token() -> ResponseReturnValue:
        form = await request.form
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return {"error": "incorrect_client_credentials"}
        login = codes.pop(form.get("code", ""), None)
        if login == "!500":
            return "upstream failure", 500
        if login is None:
            # GitHub answers a bad code with 200 and an error body.
            return {"error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired."}
        token = "gho_" + secrets.token_hex(16)
        tokens[token] = login
        return {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}

    def caller() -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    @app.get("/user")
    async def user() -> ResponseReturnValue:
        login = caller()
        if login is None:
            return {"message": "Bad credentials"}, 401
        profile: dict[str, Any] = {
            "id": user_id_for(login),
            "login": login,
            "name": login.capitalize() + " Tester",
            "email": None,
            "avatar_url": f"{request.host_url.rstrip('/')}/avatars/{login}.png",
            "created_at": "2020-01-02T03:04:05Z",
        }
        return profile

    @app.get("/user/emails")
    async def emails() -> ResponseReturnValue:
        login = caller()
        if login is None:
            return {"message": "Bad credentials"}, 401
        return [
            {"email": f"{login}@old.example.test", "primary": False, "verified": True},
            {"email": f"{login}@example.test", "primary": True, "verified": True},
        ]

    @app.get("/avatars/<login>.png")
    async def avatar(login: str) -> ResponseReturnValue:
        return avatar_png(login), 200, {"Content-Type": "image/png"}

    return app


def main() -> None:
    port, client_id, client_secret = sys.argv[1], sys.argv[2], sys.argv[3]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(serve(build(client_id, client_secret), config))


if __name__ == "__main__":
    main()
