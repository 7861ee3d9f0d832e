"""Lead ingest from Kafka and records published to Kafka, each against raw aiokafka.

A real single-node broker (tests/kafka_broker.py) on loopback. Both rows use the project's
public entry points, so they measure whatever the input consumer and the publisher are:

- ingest: N lead imports of one campaign on the leads topic (the campaign on the control
  topic, paused so nothing dials). A = a raw ``AIOKafkaConsumer`` of the leads topic (its
  own group, ``getmany``, nothing decoded); B = ``InputConsumer`` over ``KafkaBus`` applying
  to a ``DialerService``/``Dialer`` (decode, validate, convert, queue, commit), counted
  when the engine has taken the N-th lead. Each run uses a fresh consumer group and is
  timed from its first message to its N-th (the group join is not counted).
- publish: N lead-event records. A = a raw ``AIOKafkaProducer`` (acks=all, idempotent,
  the bus's settings) with every send in flight at once; B = ``RecordPublisher`` over
  ``KafkaBus``, timed from the first record handed over to ``flush()`` returning.

    .venv/bin/python -m benchmarks.bench_kafka --leads 200000 --records 5000 --pairs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from benchmarks.common import CAMPAIGN, Pairs, lead_message, loadavg


class _NoCalls:
    """The campaign is paused: nothing is ever originated."""

    def set_listener(self, listener: Any) -> None:
        return None

    async def originate(self, request: Any) -> None:
        raise AssertionError("the ingest benchmark dials nothing")

    async def hangup(self, call_uuid: str, cause: str) -> None:
        return None


async def _fill(bootstrap: str, prefix: str, leads: int) -> Any:
    from aiokafka import AIOKafkaProducer

    from engine.ports import Topics
    from proto import messages as m
    from tests.kafka_broker import create_topics

    topics = Topics(prefix)
    await create_topics(bootstrap, topics.all, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=1 << 20)
    await producer.start()
    try:
        key = CAMPAIGN.encode()
        await producer.send_and_wait(topics.control, m.dumps(m.UpsertCampaign(
            campaign=m.CampaignSpec(campaign_uuid=CAMPAIGN, campaign_name="bench",
                                    status="pause", template_text="Chào {{ten}}"))), key=key)
        pending = []
        for i in range(leads):
            pending.append(await producer.send(topics.leads, lead_message(i), key=key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return topics


async def raw_ingest(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"raw-{uuid.uuid4()}", enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=500)
    await consumer.start()
    try:
        seen, t0, c0 = 0, 0.0, 0.0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                if records and not seen:
                    t0, c0 = time.perf_counter(), time.process_time()
                seen += len(records)
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await consumer.stop()


async def engine_ingest(bootstrap: str, topics: Any, n: int) -> tuple[float, float]:
    from adapters.clock import SystemClock
    from adapters.kafka import KafkaBus
    from consumers.inputs import InputConsumer
    from engine.commands import AddLead, Command
    from engine.core import Dialer
    from engine.service import DialerService

    bus = KafkaBus(bootstrap, client_id="bench")
    await bus.start()
    service = DialerService(Dialer(), _NoCalls(), lambda _r: None, SystemClock())  # type: ignore[arg-type]
    marks: list[tuple[float, float]] = []
    done = asyncio.Event()
    taken = 0

    def apply(command: Command) -> None:
        nonlocal taken
        service.apply(command)
        if isinstance(command, AddLead):
            taken += 1
            if taken == 1 or taken == n:
                marks.append((time.perf_counter(), time.process_time()))
            if taken == n:
                done.set()

    inputs = InputConsumer(bus, topics, apply, group=f"engine-{uuid.uuid4()}")
    task = asyncio.get_running_loop().create_task(inputs.run())
    try:
        await asyncio.wait_for(done.wait(), 1200)
    finally:
        inputs.stop()
        await task
        await bus.close()
    (t0, c0), (t1, c1) = marks
    return t1 - t0, c1 - c0


async def raw_publish(bootstrap: str, topic: str, payloads: list[bytes]) -> tuple[float, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=2)
    await producer.start()
    try:
        key = CAMPAIGN.encode()
        t0, c0 = time.perf_counter(), time.process_time()
        futures = [await producer.send(topic, p, key=key) for p in payloads]
        await asyncio.gather(*futures)
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await producer.stop()


async def engine_publish(bootstrap: str, topics: Any, records: list[Any]) -> tuple[float, float]:
    from adapters.kafka import KafkaBus
    from adapters.publisher import RecordPublisher

    bus = KafkaBus(bootstrap, client_id="bench")
    await bus.start()
    publisher = RecordPublisher(bus, topics)
    publisher.start()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for record in records:
            publisher(record)
        await publisher.flush()
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await publisher.close()
        await bus.close()


def _lead_events(n: int) -> list[Any]:
    from engine.records import LeadEvent

    return [LeadEvent(str(uuid.UUID(int=i)), CAMPAIGN, "dialing", "queued", "attempt 1",
                      1_796_000_000.0 + i, 1, 1, 0.0) for i in range(n)]


def _rate(n: int, run: tuple[float, float]) -> dict[str, float]:
    wall, cpu = run
    return {"per_s": n / wall, "cpu_us_each": cpu * 1e6 / n}


def run(leads: int, records: int, pairs: int) -> dict[str, Any]:
    import uvloop

    from proto.fastencode import encode
    from tests.kafka_broker import KafkaBroker

    out: dict[str, Any] = {"leads": leads, "records": records, "pairs": pairs,
                           "loadavg_before": loadavg()}
    with KafkaBroker() as broker:
        bootstrap = broker.bootstrap
        topics = uvloop.run(_fill(bootstrap, f"bench{uuid.uuid4().hex[:8]}.", leads))
        ingest = Pairs().run(
            lambda: _rate(leads, uvloop.run(raw_ingest(bootstrap, topics.leads, leads))),
            lambda: _rate(leads, uvloop.run(engine_ingest(bootstrap, topics, leads))),
            pairs)
        events = _lead_events(records)
        payloads = [encode(e) for e in events]
        publish = Pairs().run(
            lambda: _rate(records, uvloop.run(raw_publish(bootstrap, topics.lead_events,
                                                          payloads))),
            lambda: _rate(records, uvloop.run(engine_publish(bootstrap, topics, events))),
            pairs)
    out.update({
        "loadavg_after": loadavg(),
        "ingest_raw_per_s": round(ingest.median("a", "per_s")),
        "ingest_engine_per_s": round(ingest.median("b", "per_s")),
        "ingest_ratio": round(ingest.ratio("per_s"), 3),
        "ingest_raw_cpu_us_per_lead": round(ingest.median("a", "cpu_us_each"), 1),
        "ingest_engine_cpu_us_per_lead": round(ingest.median("b", "cpu_us_each"), 1),
        "publish_raw_per_s": round(publish.median("a", "per_s")),
        "publish_engine_per_s": round(publish.median("b", "per_s")),
        "publish_ratio": round(publish.ratio("per_s"), 4),
        "publish_raw_cpu_us_per_record": round(publish.median("a", "cpu_us_each"), 1),
        "publish_engine_cpu_us_per_record": round(publish.median("b", "cpu_us_each"), 1),
    })
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.leads, args.records, args.pairs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
