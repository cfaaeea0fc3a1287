"""HTTP plumbing shared by every route: security headers and the same-origin check."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

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


def same_origin(request: web.Request, public_url: str) -> bool:
    """Whether a browser's ``Origin`` is this site (no ``Origin``: not a browser request).

    Browsers send ``Origin`` on websocket handshakes and on changes; clients without one
    (tools, tests) carry no ambient credentials to abuse. Behind a TLS proxy the request
    arrives as ``http://host`` while the browser says ``https://host``, so the origin of
    ``PUBLIC_URL`` (the address people use) counts as this site too.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        sent = _origin_of(URL(origin))
        ours = {_origin_of(request.url), _origin_of(URL(public_url))}
    except ValueError:
        return False
    return sent[1] is not None and sent in ours


def _origin_of(url: URL) -> tuple[str, str | None, int | None]:
    return url.scheme.lower(), url.host, url.port
