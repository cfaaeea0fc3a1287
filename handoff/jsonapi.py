"""The JSON API's two shared shapes: one error format, one way to read a body."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

MAX_BODY = 16 * 1024


def json_error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    """The API's one error shape: ``{"error": code, "message": text}`` (plus any details)."""
    exception = web.HTTPException(
        text=json.dumps({"error": code, "message": message, **extra}),
        content_type="application/json",
    )
    exception.set_status(status)
    return exception


async def json_body(request: web.Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """The request's JSON object, or a clear 400/413: never a half-parsed body."""
    too_large = json_error(413, "too_large", f"request bodies are limited to {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # request.read() stops at the application's client_max_size (1 MiB), so a body without
    # (or with a false) Content-Length cannot grow without bound before it is counted here.
    raw = await request.read()
    if len(raw) > limit:
        raise too_large
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise json_error(400, "invalid", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise json_error(400, "invalid", "the body must be a JSON object")
    return body
