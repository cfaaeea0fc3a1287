"""/metrics: counts and latencies in Prometheus format, and nothing else."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.channels.webchat.test_websocket import WS, receive_until_options

CANARY = "canary-lime-3391 he hid my keys"


async def test_metrics_count_and_time_without_content_or_ids(
    client: TestClient[Any, Any],
) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "message", "text": CANARY})
        await receive_until_options(socket)
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/api/v1/handoffs/0123456789abcdef")).status == 401

        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()

    assert 'porchlight_conversations{status="active"} 1.0' in text
    assert 'porchlight_handoffs{status="waiting"} 0.0' in text
    assert 'porchlight_request_seconds_count{method="GET",route="/healthz"} 1.0' in text
    assert 'route="/api/v1/handoffs/{id}"' in text
    assert "0123456789abcdef" not in text, "labels name route patterns, never ids"
    assert "canary" not in text
