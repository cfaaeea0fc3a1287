"""Dashboard sign-in, sessions, two-factor and CSRF (being built: see issue #5)."""

from __future__ import annotations

from aiohttp import web


def setup_auth(app: web.Application) -> None:
    """Install the authentication middleware and the session routes."""
