"""Cross-site request forgery protection for HTML forms.

HTML forms are what another site can make a browser send without asking us (a JSON body
needs a CORS preflight, and the Origin check in the app refuses cross-site origins), so
every form-encoded state change must carry the per-browser token from the page."""

from __future__ import annotations

import hmac
import secrets

from quart import request, session

from portal.errors import Forbidden

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf() -> None:
    if request.method not in _UNSAFE or request.mimetype not in _FORMS:
        return
    expected = session.get("csrf")
    given = request.headers.get(HEADER) or (await request.form).get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(),
                                                                expected.encode()):
        raise Forbidden("this form has expired; reload the page and try again")
