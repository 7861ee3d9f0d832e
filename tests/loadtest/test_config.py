"""Load-test bookkeeping. The drain after a timed run outlasts the longest call the far end
can make, so that a call originated in the run's last second still has its CDR read back
(a 10k-channel run with 30-60 s talk times lost 13 CDRs to a fixed 60 s drain)."""

from __future__ import annotations

from dialer.loadtest.config import LoadConfig
from dialer.loadtest.recorder import Recorder


def test_drain_covers_the_longest_call_at_real_speed() -> None:
    config = LoadConfig(speed=1.0, ring_time=(1.0, 3.0), talk_time=(30.0, 60.0))
    assert config.drain_window == 3.0 + 60.0 + 30.0


def test_drain_keeps_the_configured_floor_for_short_calls() -> None:
    config = LoadConfig(speed=10.0, ring_time=(3.0, 15.0), talk_time=(8.0, 45.0))
    assert config.drain_window == config.drain_seconds == 60.0


def test_peak_live_total_is_one_instant_not_a_sum_of_peaks() -> None:
    """Two nodes peaking at different samples of the same second: the total is the largest
    sum seen at one sample (the 10k run printed 10,010 live calls against 10 × 1,000 caps,
    adding node peaks from different samples)."""
    recorder = Recorder()
    recorder.sample({}, {"fs1": 2521, "fs2": 2479}, 0)
    recorder.sample({}, {"fs1": 2500, "fs2": 2500}, 0)
    # Each sample sums to 5,000, whichever second(s) the two samples fall in.
    assert max(s.live_total for s in recorder.seconds.values()) == 5000
