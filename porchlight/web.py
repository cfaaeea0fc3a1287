"""HTTP plumbing shared by every route: security headers and health."""

from __future__ import annotations

from aiohttp import web

# Nothing leaves our origin, nothing is cached, nothing can frame us. These apply to every
# response, errors and static files included, because a survivor's browser must keep nothing.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: runs for every response, including errors."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
