"""Wait for something the server does after the client has moved on (e.g. on disconnect)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], expected: T, *, within: float = 5.0
) -> None:
    """Poll ``probe`` until it returns ``expected``; fail with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value == expected:
            return
        if loop.time() > deadline:
            raise AssertionError(f"waited {within}s for {expected!r}, last saw {value!r}")
        await asyncio.sleep(0.02)
