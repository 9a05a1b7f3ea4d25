"""Workspace credentials: signed, expiring, bound to one REPL.

The portal issues them only to a REPL's owner; the runner checks them with the per-REPL
secret it was started with, so a credential for one REPL opens no other.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_SALT = "devex-workspace-access"
DEFAULT_TTL = 12 * 3600


def issue(secret: str, repl_id: str) -> str:
    return URLSafeTimedSerializer(secret, salt=_SALT).dumps(repl_id)


def verify(secret: str, repl_id: str, token: str, max_age: int = DEFAULT_TTL) -> bool:
    try:
        bound = URLSafeTimedSerializer(secret, salt=_SALT).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return False
    return bool(bound == repl_id)
