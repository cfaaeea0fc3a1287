"""The OpenAPI document describes exactly the API the app serves."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient


def served_api_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            found.add((path, route.method.lower()))
    return found


async def test_every_api_route_is_documented_and_nothing_else(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == served_api_routes(app)


async def test_every_documented_change_says_it_needs_the_csrf_token(
    client: TestClient[Any, Any],
) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "delete") and operation.get("security") != []:
                assert "403" in operation["responses"], (path, method)
