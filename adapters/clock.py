"""The real clock for the engine: wall time for the calendar, the loop's timers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SystemClock:
    def now(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)
