"""The live display of a load run: rate, live channels, per-campaign progress, ETA.

On a terminal the block redraws in place once a second; elsewhere (CI logs, a pipe) one
plain line every ``PLAIN_EVERY`` seconds, so a log stays readable.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from dialer.loadtest.runner import LoadRun

PLAIN_EVERY = 5.0
RATE_WINDOW = 5  # seconds the displayed rate averages over


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, load: LoadRun, *, interactive: bool | None = None,
                 out: TextIO | None = None) -> None:
        self._load = load
        self._out = out or sys.stdout
        self._tty = self._out.isatty() if interactive is None else interactive
        self._drawn = 0

    def rate(self) -> float:
        r = self._load.recorder
        now = int(r.elapsed())
        window = [r.seconds[s].originations for s in range(max(0, now - RATE_WINDOW), now)
                  if s in r.seconds]
        return sum(window) / len(window) if window else 0.0

    def lines(self) -> list[str]:
        load, r = self._load, self._load.recorder
        c = load.config
        t = r.elapsed()
        rate = self.rate()
        done = len(r.calls)
        live = sum(s.live_channels for s in load.sims)
        if c.duration > 0:
            eta = c.duration - t
        else:
            eta = (c.leads - done) / rate if rate > 0 else float("nan")
        eta_text = "?" if eta != eta else _duration(eta)
        head = (f"t={_duration(t)} rate={rate:.1f}/s live={live} "
                f"calls={done}/{c.leads} ({100.0 * done / c.leads:.1f}%) "
                f"originated={r.originations} ETA {eta_text}")
        if not self._tty:
            per = " ".join(f"{k[-2:]}:{r.done_by_campaign[k]}" for k in load.campaigns[:20])
            return [f"{head} | {per}"]
        per_campaign = c.leads / max(1, len(load.campaigns))
        now = r.seconds.get(int(t))
        out = [head]
        for k in load.campaigns:
            live_k = now.live_by_campaign.get(k, 0) if now else 0
            share = r.done_by_campaign[k] / per_campaign if per_campaign else 0.0
            bar = "#" * int(20 * min(1.0, share))
            out.append(f"  {k}  live {live_k:>5}/{c.concurrency:<5} "
                       f"[{bar:<20}] {r.done_by_campaign[k]}/{int(per_campaign)}")
        return out

    def draw(self) -> None:
        lines = self.lines()
        if self._tty:
            if self._drawn:
                self._out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._out.write("\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            self._out.write(lines[0] + "\n")
        self._out.flush()

    async def run(self) -> None:
        every = 1.0 if self._tty else PLAIN_EVERY
        while True:
            await asyncio.sleep(every)  # a display refresh, not a wait for a condition
            self.draw()

    def finish(self) -> None:
        self.draw()
