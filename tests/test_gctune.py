"""The engine process tunes the cyclic GC for millions of long-lived leads."""

from __future__ import annotations


def test_the_engine_tunes_the_collector_for_long_lived_leads() -> None:
    import gc

    from dialer import gctune

    before = gc.get_threshold()
    try:
        gctune.tune()
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gctune.THRESHOLDS[0] >= 10 * 700  # young collections far rarer than default
    finally:
        gc.set_threshold(*before)
