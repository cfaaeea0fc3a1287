"""Logging set-up. Content never reaches a log: only pseudonymous ids and counts.

Third-party loggers that write request URLs, update bodies or bot tokens (``telegram`` and
``httpx`` at DEBUG/INFO, aiohttp's access log) or SQL parameters (``aiosqlite`` at DEBUG:
pseudonyms, CSRF tokens, password hashes) are held at WARNING whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging

QUIET_LOGGERS = (
    "telegram", "httpx", "httpcore", "aiohttp.access", "hpack", "twilio", "aiosqlite",
)  # fmt: skip


def configure_logging(level: str) -> None:
    """Configure the root logger once, at start."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    quiet_third_party_loggers()


def quiet_third_party_loggers() -> None:
    """Hold the chatty libraries at WARNING; tests call this too when capturing logs."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
