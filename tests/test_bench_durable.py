"""The durable-state benchmark stays runnable: it imports, and --quick parses to the small
sizes (the benchmark itself is never run by the suite: figures live in benchmarks/)."""

from __future__ import annotations

from benchmarks import bench_durable


def test_quick_arguments_pick_small_sizes_and_all_rows() -> None:
    a = bench_durable.parse_args(["--quick"])
    full = bench_durable.parse_args([])
    assert a.rows == {1, 2, 3}
    assert a.pairs == 2 and full.pairs >= 5
    assert a.leads < full.leads and a.ingest < full.ingest
    assert a.rates == [100.0, 200.0] and a.seconds < full.seconds
    assert full.rates[-1] == 500.0
    assert a.profile is None


def test_explicit_arguments_override_quick_defaults() -> None:
    a = bench_durable.parse_args(["--quick", "--rows", "1,3", "--pairs", "5",
                                  "--rates", "50,75", "--profile", "out.prof"])
    assert a.rows == {1, 3}
    assert a.pairs == 5
    assert a.rates == [50.0, 75.0]
    assert a.profile == "out.prof"
