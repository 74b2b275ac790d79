"""Coroutines that run beside synchronous code: an event loop of their own in a daemon thread.

The live-page workload (bench/live.py) and the live-stream reliability tests hold many streams open
while the calling thread measures or asserts; both start, stop and wait for them this one way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any


async def run_until(stop: asyncio.Event, work: Iterable[Coroutine[Any, Any, Any]]) -> None:
    """Run `work` as tasks until `stop` is set, then cancel them and wait for them to end."""
    tasks = [asyncio.create_task(coroutine) for coroutine in work]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def loop_in_thread(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]], join_s: float) -> Iterator[None]:
    """`main(stop)` on a loop of its own in a daemon thread for the block; then `stop` is set and the
    thread gets `join_s` seconds to end (a daemon thread left running does not keep the process)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(stop),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(join_s)
        if not thread.is_alive():
            loop.close()
