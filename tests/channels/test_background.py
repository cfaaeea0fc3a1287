"""Work that outlives its request: finished at shutdown, and never failing unseen."""

import asyncio
import logging

import pytest

from channels.background import BackgroundWork


async def test_work_that_fails_after_the_wait_is_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def turn() -> None:
        await release.wait()
        raise ConnectionError("the database went away with 'canary-text-88'")

    background = BackgroundWork()
    await background.wait_briefly(turn(), 0.01)  # gives up waiting: nothing is raised
    assert not caplog.records, "nothing has failed yet"
    release.set()
    await background.drain()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "ConnectionError" in record.getMessage()
    assert "a message may be lost" in record.getMessage()
    assert "canary-text-88" not in caplog.text


async def test_work_that_fails_in_time_is_raised_to_the_caller_and_not_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def turn() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        await BackgroundWork().wait_briefly(turn(), 1)
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]


async def test_drain_waits_for_work_the_request_stopped_waiting_for() -> None:
    done = []

    async def turn() -> None:
        await asyncio.sleep(0.05)
        done.append(True)

    background = BackgroundWork()
    await background.wait_briefly(turn(), 0.001)
    assert done == []
    await background.drain()
    assert done == [True]


async def test_work_done_in_time_gives_its_result() -> None:
    async def turn() -> str:
        await asyncio.sleep(0)
        return "stored"

    assert await BackgroundWork().wait_briefly(turn(), 1) == "stored"


async def test_a_cancelled_wait_leaves_the_work_running_to_its_end() -> None:
    done = []

    async def turn() -> None:
        await asyncio.sleep(0.05)
        done.append(True)

    background = BackgroundWork()
    waiting = asyncio.create_task(background.wait_briefly(turn(), 5))
    await asyncio.sleep(0.01)
    waiting.cancel()  # the provider hung up while its turn was being stored
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await background.drain()
    assert done == [True]
