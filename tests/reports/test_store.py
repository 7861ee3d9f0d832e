"""The report store's SQL against plain Python: counts from hour buckets + raw edges equal
a naive count over distinct CDRs for any window; merges are order-independent."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sqlite.reports import SCHEMA, ReportStore, TimeRange, Totals
from adapters.sqlite.stamps import REPORT_ZONE, STAMP_FORMAT, cdr_epoch, parse_filter
from engine.ports import BusMessage, Topics
from proto import messages as m

TOPICS = Topics("s.")
BASE = 1_678_150_800  # 2023-03-07 08:00:00 +07:00
STATUSES = ["answered", "busy", "no_answer", "voicemail", "failed", "congestion"]


def fresh() -> tuple[sqlite3.Connection, ReportStore]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    return conn, ReportStore(TOPICS)


def stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, REPORT_ZONE).strftime(STAMP_FORMAT)


def cdr(n: int, campaign: str, list_uuid: str, status: str, epoch: int, duration: int,
        lead: str = "", called: int = 1) -> m.CdrRecord:
    return m.CdrRecord(
        cdr_uuid=f"cdr-{n}", campaign_uuid=campaign, campaign_name=campaign,
        lead_uuid=lead or f"lead-{n}", call_id="", phone_number="0901234567", status=status,
        hangup_cause="", hangup_cause_q850=0, billsec=duration // 2, duration=duration,
        waitsec=1, called_count=called, attempt=1, press_key="", record_name="",
        recording_url="", start_stamp=stamp(epoch), answer_stamp="", end_stamp="",
        created_at="", last_call_time=datetime.fromtimestamp(epoch, REPORT_ZONE).isoformat(),
        list_uuid=list_uuid,
    )


def message(topic: str, record: Any, offset: int) -> BusMessage:
    return BusMessage(topic, 0, offset, b"k", m.dumps(record))


def apply(conn: sqlite3.Connection, store: ReportStore, batches: Sequence[Sequence[BusMessage]]
          ) -> None:
    for batch in batches:
        conn.execute("BEGIN")
        store.apply_batch(conn, batch)
        conn.execute("COMMIT")


cdr_specs = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["a", "b"]), st.sampled_from(["", "l1"]),
              st.sampled_from(STATUSES), st.integers(0, 3 * 86_400), st.integers(0, 300)),
    max_size=60,
)
bounds = st.one_of(st.none(), st.integers(-4000, 3 * 86_400 + 4000))


@settings(max_examples=150, deadline=None)
@given(specs=cdr_specs, lo=bounds, hi=bounds, list_uuid=st.sampled_from([None, "", "l1"]))
def test_counts_equal_a_naive_count(
    specs: list[tuple[int, str, str, str, int, int]], lo: int | None, hi: int | None,
    list_uuid: str | None,
) -> None:
    conn, store = fresh()
    records = [cdr(n, c, lst, status, BASE + off, dur) for n, c, lst, status, off, dur in specs]
    apply(conn, store, [[message(TOPICS.cdr, r, i) for i, r in enumerate(records)]])
    window = TimeRange(None if lo is None else BASE + lo, None if hi is None else BASE + hi)
    got = store.counts(conn, ["a", "b", "c"], window, list_uuid)

    want: dict[str, dict[str, Totals]] = {}
    seen: set[str] = set()
    for r in records:
        epoch = cdr_epoch(r.start_stamp, r.last_call_time)
        if r.cdr_uuid in seen:  # the same cdr_uuid again: counted once
            continue
        seen.add(r.cdr_uuid)
        if window.lo is not None and epoch < window.lo:
            continue
        if window.hi is not None and epoch > window.hi:
            continue
        if list_uuid is not None and r.list_uuid != list_uuid:
            continue
        per = want.setdefault(r.campaign_uuid, {})
        per[r.status] = per.get(r.status, Totals()) + Totals(1, r.duration, r.billsec,
                                                            r.waitsec)
    assert got == want


def lead_messages() -> list[BusMessage]:
    imports = [m.LeadImport(campaign_uuid="a", lead_uuid=f"L{i}", phone_number="0901234567",
                            param={"i": i}, created_at=f"2023-03-07T10:0{i}:00+07:00")
               for i in range(4)]
    cdrs = [cdr(10 + i, "a", "", STATUSES[i % 6], BASE + 60 * i, 30, lead=f"L{i % 3}",
                called=i + 1) for i in range(7)]
    events = [m.LeadEventRecord(lead_uuid=f"L{i % 4}", campaign_uuid="a",
                                state=["queued", "dialing", "recall", "completed"][i // 4],
                                previous="", reason=f"r{i}", at=float(i // 4), attempts=i,
                                calls=i) for i in range(16)]
    cdrs.append(cdrs[0])  # the engine published one CDR twice
    return ([message(TOPICS.leads, x, i) for i, x in enumerate(imports)]
            + [message(TOPICS.cdr, x, i) for i, x in enumerate(cdrs)]
            + [message(TOPICS.lead_events, x, i) for i, x in enumerate(events)])


def snapshot(conn: sqlite3.Connection) -> tuple[Any, ...]:
    return tuple(conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                 for t in ("leads", "lead_calls", "lead_states", "rollup", "totals",
                           "cdrs", "offsets"))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_interleaving_of_the_topics_gives_the_same_view(data: st.DataObject) -> None:
    """Messages of different topics come in any order and any batches (a restart changes
    both); within one topic-partition the order is fixed. The view must not care."""
    msgs = lead_messages()
    queues = {t: [x for x in msgs if x.topic == t] for t in TOPICS.all}
    order: list[BusMessage] = []
    while any(queues.values()):
        topic = data.draw(st.sampled_from(sorted(t for t, q in queues.items() if q)))
        order.append(queues[topic].pop(0))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), max_size=5)))
    batches = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    conn, store = fresh()
    apply(conn, store, batches)
    reference, ref_store = fresh()
    apply(reference, ref_store, [msgs])
    assert snapshot(conn) == snapshot(reference)


def test_filter_times_are_ho_chi_minh_wall_clock() -> None:
    assert parse_filter("2023-03-07 00:00:00") == 1_678_122_000
    assert parse_filter("2023-03-07") == 1_678_122_000
    assert parse_filter("07/03/2023") is None
    # A CDR's start_stamp is placed by the offset of its last_call_time.
    assert cdr_epoch("2023-03-07 08:00:00", "2023-03-07T08:00:00+07:00") == BASE
    assert cdr_epoch("2023-03-07 03:00:00", "2023-03-07T03:00:00+02:00") == BASE
    assert cdr_epoch("", "2023-03-07T08:00:00+07:00") == BASE
    assert cdr_epoch("", "") == 0
