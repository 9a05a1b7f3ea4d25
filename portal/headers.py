"""Security headers for every response of the portal and of the runner."""

from __future__ import annotations

from quart import Response


def portal_policy(github_url: str | None) -> str:
    # Sign-in forms post to us and are redirected to GitHub, which form-action governs.
    form_targets = " ".join(filter(None, ["'self'", github_url]))
    # Avatars come from GitHub's image host (https) or, on GitHub Enterprise, from GitHub
    # itself, which may be plain http inside a company network.
    image_sources = " ".join(filter(None, ["'self'", "https:", "data:", github_url]))
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {image_sources}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action {form_targets}",
        "frame-ancestors 'none'",
    ])


# xterm.js writes its own <style> elements, so the workspace page allows inline styles;
# scripts stay same-origin only.
RUNNER_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def secure(response: Response, policy: str, *, hsts: bool, referrer: str) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", referrer)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if hsts:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
