"""The dashboard's pages: server-rendered shells that ``static/dashboard.js`` fills from the API.

The pages themselves hold nothing about anyone (the script fetches that through the API,
which checks roles and audits), so rendering them needs only the signed-in account, its
availability and the CSRF token the script sends back on every change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from handoff import auth
from storage.presence import PresenceStore

PACKAGE_DIR = Path(__file__).parent
STATIC_PREFIX = "/static/dashboard"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True, slots=True)
class AdminPage:
    """One administration page: its menu label and template."""

    label: str
    template: str


# Administration pages by path section ("" is the overview); the menu lists them in order.
ADMIN_PAGES = {
    "": AdminPage("Overview", "admin_home.html"),
    "script": AdminPage("Script", "admin_script.html"),
    "statistics": AdminPage("Statistics", "admin_statistics.html"),
    "people": AdminPage("People and rota", "admin_people.html"),
    "resources": AdminPage("Resources", "admin_resources.html"),
    "responses": AdminPage("Canned responses", "admin_responses.html"),
    "settings": AdminPage("Settings", "admin_settings.html"),
    "audit": AdminPage("Audit log", "admin_audit.html"),
}


def render(template: str, **context: Any) -> web.Response:
    """A page, with the shared context every template expects."""
    context.setdefault("account", None)
    context.setdefault("available", False)
    context.setdefault("csrf_token", None)
    context.setdefault("section", None)
    context.setdefault("admin_pages", ADMIN_PAGES)
    html = _templates.get_template(template).render(static_prefix=STATIC_PREFIX, **context)
    return web.Response(text=html, content_type="text/html")


def routes(presence: Callable[[], PresenceStore]) -> list[web.RouteDef]:
    """Page routes under /dashboard."""

    async def signed_in_page(
        request: web.Request, template: str, **context: Any
    ) -> web.StreamResponse:
        try:
            account = await auth.current_account(request)
        except web.HTTPException as refused:
            # Not signed in: sign in. Signed in but two-factor still to set up: set it up.
            target = "/dashboard/two-factor" if refused.status == 403 else "/dashboard/login"
            raise web.HTTPFound(target) from None
        return render(
            template,
            account=account,
            available=await presence().is_available(account.id),
            csrf_token=auth.csrf_token_for(request),
            **context,
        )

    async def login(_request: web.Request) -> web.StreamResponse:
        return render("login.html")

    async def two_factor(request: web.Request) -> web.StreamResponse:
        token = auth.csrf_token_for(request)
        if token is None:
            raise web.HTTPFound("/dashboard/login")
        return render("two_factor.html", csrf_token=token)

    async def queue(request: web.Request) -> web.StreamResponse:
        return await signed_in_page(request, "queue.html")

    async def admin_page(request: web.Request) -> web.StreamResponse:
        section = request.match_info.get("section", "")
        if section not in ADMIN_PAGES:
            raise web.HTTPNotFound(text="No such page.")
        try:
            account = await auth.current_account(request)
        except web.HTTPException:
            return await signed_in_page(request, "queue.html")  # redirects to sign in
        if account.role != "admin":
            raise web.HTTPForbidden(text="Administrators only.")
        return await signed_in_page(request, ADMIN_PAGES[section].template, section=section)

    async def conversation(request: web.Request) -> web.StreamResponse:
        return await signed_in_page(
            request, "conversation.html", handoff_id=request.match_info["id"]
        )

    return [
        web.get("/dashboard", queue),
        web.get("/dashboard/login", login),
        web.get("/dashboard/two-factor", two_factor),
        web.get("/dashboard/handoffs/{id}", conversation),
        web.get("/dashboard/admin", admin_page),
        web.get("/dashboard/admin/{section}", admin_page),
    ]
