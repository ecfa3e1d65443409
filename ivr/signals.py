"""Unix signals that start asynchronous work, such as SIGHUP's reload."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("ivr.signals")


def on_signal(signum: signal.Signals, work: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Each ``signum`` runs ``work`` as a task, one at a time (a signal handler cannot await)."""
    loop = asyncio.get_running_loop()
    one_at_a_time = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()

    async def in_turn() -> None:
        async with one_at_a_time:
            await work()

    def done(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s: %s", signum.name, exc, exc_info=exc)

    def start() -> None:
        task = loop.create_task(in_turn())
        running.add(task)
        task.add_done_callback(done)

    loop.add_signal_handler(signum, start)
