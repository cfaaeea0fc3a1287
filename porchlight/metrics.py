"""``GET /metrics``: Prometheus text with counts and latencies only, never content.

Request latencies are labelled by route *pattern* (``/api/v1/handoffs/{id}``), never by the
path actually requested, so no id, token or address can end up in a label. The counts are
read from the stores at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from porchlight.state import SERVICES
from storage.conversations import ACTIVE, ENDED, EXPIRED
from storage.handoffs import CLAIMED, WAITING

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """One registry per app, so tests (and several apps in one process) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "porchlight_request_seconds",
            "Time to answer a request, by route pattern and method",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.conversations = Gauge(
            "porchlight_conversations", "Stored conversations by status", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.outbox = Gauge(
            "porchlight_outbox_messages", "Outbox rows by status", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.handoffs = Gauge(
            "porchlight_handoffs", "Open handoffs by status", ["status"], registry=self.registry
        )
        self.available = Gauge(
            "porchlight_advocates_available", "Accounts available to take conversations",
            registry=self.registry,
        )  # fmt: skip


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request under its route pattern (unknown paths share one label)."""
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        route = request.match_info.route.resource
        pattern = route.canonical if route is not None else "unmatched"
        request.app[METRICS].latency.labels(pattern, request.method).observe(
            time.perf_counter() - started
        )


async def serve_metrics(request: web.Request) -> web.Response:
    """Refresh the counts from the stores and answer in Prometheus' text format."""
    metrics: Metrics = request.app[METRICS]
    services = request.app[SERVICES]
    for status in (ACTIVE, ENDED, EXPIRED):
        metrics.conversations.labels(status).set(await services.conversations.count(status))
    for status, count in (await services.outbox.counts()).items():
        metrics.outbox.labels(status).set(count)
    metrics.handoffs.labels(WAITING).set(len(await services.handoffs.queue()))
    metrics.handoffs.labels(CLAIMED).set(len(await services.handoffs.held()))
    metrics.available.set(len(await services.presence.available()))
    body = generate_latest(metrics.registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response
