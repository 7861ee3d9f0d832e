"""The one supervised-task primitive of the project (style.md rule 7: catch broadly only at
a task boundary, where one done-callback logs and restarts or closes).

- ``spawn``: a fire-and-forget task (one per call: originate, hangup, a webhook delivery),
  kept referenced until it finishes (the loop holds only weak references, so an
  unreferenced task can be collected mid-flight). An exception nobody handled is logged
  with its traceback as one record, never left to asyncio's "Task exception was never
  retrieved"; the coroutine itself frees what it holds (slots) in its own ``finally``.
- ``supervise``: a background loop (sweeper, webhook reader, view). A crash is logged
  with its traceback and the loop is started again after a capped exponential backoff;
  while it waits, ``healthy`` is false (readiness reports it). A loop that returns has
  finished its work and is not restarted.
- ``close``: cancel everything and wait, within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

LoopFactory = Callable[[], Coroutine[Any, Any, None]]


class TaskSet:
    def __init__(
        self, name: str = "tasks", *, backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._down: set[str] = set()  # supervised loops waiting to be restarted
        self._restarts: dict[str, asyncio.TimerHandle] = {}
        self._closed = False
        self.crashes = 0

    def spawn(self, coro: Coroutine[Any, Any, None], name: str | None = None) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:
            self.crashes += 1
            log.error("%s: task %s crashed: %s", self.name, task.get_name(),
                      type(err).__name__, exc_info=err)

    def supervise(self, name: str, factory: LoopFactory) -> asyncio.Task[None]:
        """Run ``factory()`` and start it again whenever it raises."""
        return self.spawn(self._keep(name, factory, self._backoff_s), name=name)

    async def _keep(self, name: str, factory: LoopFactory, delay: float) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._down.discard(name)
        try:
            await factory()
        except Exception as err:  # the supervisor is the task boundary
            self.crashes += 1
            self._down.add(name)
            # A loop that ran a while before failing starts over from the short delay.
            if loop.time() - started > self._max_backoff_s:
                delay = self._backoff_s
            log.error("%s: loop %s crashed (%s); restarting in %.1f s", self.name, name,
                      type(err).__name__, delay, exc_info=err)
            # A timer, not a sleep: engine/ never sleeps, and a closed set restarts nothing.
            self._restarts[name] = loop.call_later(
                delay, self._restart, name, factory, min(self._max_backoff_s, delay * 2))

    def _restart(self, name: str, factory: LoopFactory, delay: float) -> None:
        self._restarts.pop(name, None)
        if not self._closed:
            self.spawn(self._keep(name, factory, delay), name=name)

    @property
    def healthy(self) -> bool:
        """False while a supervised loop waits to be restarted after a crash."""
        return not self._down

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel_all(self) -> None:
        self._closed = True
        for timer in self._restarts.values():
            timer.cancel()
        self._restarts.clear()
        for task in list(self._tasks):
            task.cancel()

    async def close(self, deadline_s: float = 5.0) -> bool:
        """Cancel every task and wait for them, at most ``deadline_s`` seconds; False when
        some did not end in time (they are left cancelled)."""
        self.cancel_all()
        pending = list(self._tasks)
        if not pending:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_s):
                await asyncio.gather(*pending, return_exceptions=True)
        return not any(not t.done() for t in pending)
