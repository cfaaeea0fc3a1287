"""The batching queue: what arrives together is done together, and each item answers alone."""

import asyncio
from collections.abc import Sequence

import pytest

from storage.batching import BatchingQueue


class Recorder:
    """Processes numbers (doubling them) and remembers each batch it was given."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()
        self.release.set()

    async def process(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await self.release.wait()
        return [ValueError(item) if item == self.fail_on else item * 2 for item in items]


async def test_items_added_together_are_done_in_one_batch() -> None:
    recorder = Recorder()
    queue = BatchingQueue(recorder.process, max_items=10)

    results = await asyncio.gather(*(queue.add(n) for n in range(5)))

    assert results == [0, 2, 4, 6, 8]
    assert recorder.batches == [[0, 1, 2, 3, 4]]


async def test_a_lone_item_is_done_at_once_and_later_ones_join_the_next_batch() -> None:
    recorder = Recorder()
    recorder.release.clear()  # the first batch is in flight until released
    queue = BatchingQueue(recorder.process, max_items=10)

    first = asyncio.create_task(queue.add(1))
    await asyncio.sleep(0.01)
    assert recorder.batches == [[1]], "the first item did not wait for company"
    later = [asyncio.create_task(queue.add(n)) for n in (2, 3)]
    await asyncio.sleep(0.01)
    recorder.release.set()

    assert await first == 2
    assert [await task for task in later] == [4, 6]
    assert recorder.batches == [[1], [2, 3]]


async def test_a_batch_holds_no_more_than_its_limit() -> None:
    recorder = Recorder()
    queue = BatchingQueue(recorder.process, max_items=2)

    assert await asyncio.gather(*(queue.add(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert recorder.batches == [[0, 1], [2, 3], [4]]


async def test_an_item_that_fails_fails_alone() -> None:
    queue = BatchingQueue(Recorder(fail_on=2).process, max_items=10)

    results = await asyncio.gather(*(queue.add(n) for n in range(4)), return_exceptions=True)

    assert results[:2] == [0, 2]
    assert isinstance(results[2], ValueError)
    assert results[3] == 6


async def test_a_batch_whose_processing_fails_fails_each_of_its_items_and_no_other() -> None:
    calls = 0

    async def process(items: Sequence[int]) -> Sequence[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return items

    queue = BatchingQueue(process, max_items=10)
    failed = await asyncio.gather(queue.add(1), queue.add(2), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in failed)
    assert await queue.add(3) == 3  # the queue goes on


async def test_an_item_whose_caller_gave_up_is_still_done() -> None:
    recorder = Recorder()
    recorder.release.clear()
    queue = BatchingQueue(recorder.process, max_items=10)

    impatient = asyncio.create_task(queue.add(1))
    patient = asyncio.create_task(queue.add(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    recorder.release.set()

    assert await patient == 4
    assert recorder.batches == [[1, 2]]
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_batch_answering_for_the_wrong_number_of_items_fails_them_all() -> None:
    async def process(items: Sequence[int]) -> Sequence[int | Exception]:
        return items[:-1]

    queue = BatchingQueue(process, max_items=10)
    results = await asyncio.gather(queue.add(1), queue.add(2), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)


async def test_a_batch_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BatchingQueue(Recorder().process, max_items=0)


async def test_items_arriving_over_the_next_few_turns_of_the_loop_join_the_first() -> None:
    recorder = Recorder()
    queue = BatchingQueue(recorder.process, max_items=10, wait_turns=3)

    async def arrive_after(turns: int, item: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await queue.add(item)

    results = await asyncio.gather(*(arrive_after(turns, turns) for turns in range(5)))

    assert results == [0, 2, 4, 6, 8]
    first = recorder.batches[0]
    assert first[:3] == [0, 1, 2], recorder.batches  # waited for those
    assert 4 not in first, recorder.batches  # but not for ever


@pytest.mark.parametrize("turns", [1, 3])  # before the batch started, or as it waits
async def test_items_waiting_when_the_queue_is_cancelled_are_not_left_hanging(
    turns: int,
) -> None:
    recorder = Recorder()
    queue = BatchingQueue(recorder.process, max_items=10, wait_turns=100)
    waiting = asyncio.create_task(queue.add(1))
    for _ in range(turns):
        await asyncio.sleep(0)
    assert queue._runner is not None
    queue._runner.cancel()  # the app shutting down while the item waits for company

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, timeout=1)
    assert recorder.batches == []


async def test_an_item_that_fails_after_its_caller_gave_up_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(fail_on=1)
    recorder.release.clear()
    queue = BatchingQueue(recorder.process, max_items=10)
    impatient = asyncio.create_task(queue.add(1))
    await asyncio.sleep(0.01)
    impatient.cancel()
    with caplog.at_level("WARNING", logger="storage.batching"):
        recorder.release.set()
        await asyncio.sleep(0.01)
    assert "failed after its caller gave up (ValueError)" in caplog.text
