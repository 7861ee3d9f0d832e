"""The live display: a block redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from dialer.loadtest.config import LoadConfig
from dialer.loadtest.progress import Progress
from dialer.loadtest.runner import LoadRun


async def test_terminal_block_redraws_in_place_and_plain_lines_do_not() -> None:
    load = LoadRun(LoadConfig(campaigns=2, concurrency=5, leads=10))
    r = load.recorder
    a, b = load.campaigns
    r.t0 -= 3.0  # three seconds into the run
    for s in range(3):
        r.seconds[s].originations = 2
    r.sample({a: 4, b: 5}, {}, 3)
    r.cdr({"cdr_uuid": "x", "campaign_uuid": a, "status": "answered", "billsec": 3})

    tty = io.StringIO()
    shown = Progress(load, interactive=True, out=tty)
    shown.draw()
    shown.draw()
    lines = shown.lines()
    assert lines[0].startswith("t=3s rate=2.0/s live=0 calls=1/10 (10.0%)")
    assert "ETA 4s" in lines[0], "9 calls left at 2/s"
    assert [line.split()[0] for line in lines[1:]] == [a, b]
    assert "live     4/5" in lines[1] and "1/5" in lines[1]
    assert tty.getvalue().count("\x1b[3F\x1b[J") == 1, "the second draw moves up 3 lines"

    plain = io.StringIO()
    Progress(load, interactive=False, out=plain).draw()
    text = plain.getvalue()
    assert "\x1b" not in text and text.count("\n") == 1
    assert f"{a[-2:]}:1 {b[-2:]}:0" in text
