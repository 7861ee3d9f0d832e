"""Record keys and partitions of the table topics (control, dnc): the contract that lets
compaction keep every campaign, every DNC entry and every globally blocked number.

Compaction keeps the latest record per key, so each independent fact has its own key:

======================================  ===================================================
control ``<campaign_uuid>``              the campaign spec (``campaign.upsert``)
control ``<campaign_uuid>/status``       the latest ``campaign.status``
control ``<campaign_uuid>/active``       the latest ``campaign.active``
control ``<campaign_uuid>/delete``       ``campaign.delete``; then every key above is
                                         tombstoned (a null value), the campaign key last
dnc ``dnc/<campaign_uuid>/<customer>``   one customer on one campaign's list (one
                                         ``customer_ids`` entry per record)
dnc ``dnc-phone/<national number>``      one number on the global list (one
                                         ``phone_numbers`` entry; national form, 0…)
======================================  ===================================================

A DNC removal is a tombstone of the entry's key (a ``"op": "remove"`` record under the
same key works too). A tombstone of ``<campaign_uuid>`` reads as ``campaign.delete`` (what
compaction will make of the campaign anyway); tombstones of the other control keys carry
nothing. Campaign uuids must not contain ``/``.

Partitions: every control record and every campaign-scoped DNC record of a campaign goes
to ``partition_for(campaign_uuid, partitions)``, the partition the Java (and aiokafka)
default partitioner gives the bare campaign uuid, which is where the campaign's leads are
(they are keyed by campaign uuid). So partition i of control, dnc and leads holds the same
campaigns, whatever the sub-key. Global numbers are spread by their own key.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.partitioner import murmur2

from engine.phone import PhoneNumber, normalize
from proto import messages as m

SUBKEYS = ("status", "active", "delete")
DNC_PREFIX = "dnc/"
PHONE_PREFIX = "dnc-phone/"
MAX_ID = 128  # proto.messages.Id


def partition_for(campaign_uuid: str, partitions: int) -> int:
    """The Java default partitioner's choice for the key ``campaign_uuid``
    (``toPositive(murmur2(key)) % partitions``)."""
    return (int(murmur2(campaign_uuid.encode())) & 0x7FFFFFFF) % partitions


def control_key(cmd: m.ControlCommand) -> str:
    match cmd:
        case m.UpsertCampaign():
            return cmd.campaign.campaign_uuid
        case m.SetCampaignStatus():
            return f"{cmd.campaign_uuid}/status"
        case m.SetCampaignActive():
            return f"{cmd.campaign_uuid}/active"
        case m.DeleteCampaign():
            return f"{cmd.campaign_uuid}/delete"
    raise AssertionError(f"unhandled control command {type(cmd).__name__}")


def deletion_tombstones(campaign_uuid: str) -> list[str]:
    """Keys to tombstone after a ``campaign.delete``: the campaign key last, so a reader
    that sees it has seen the others go."""
    return [f"{campaign_uuid}/{s}" for s in SUBKEYS] + [campaign_uuid]


def customer_key(campaign_uuid: str, customer_id: str) -> str:
    return f"{DNC_PREFIX}{campaign_uuid}/{customer_id}"


def phone_key(national: str) -> str:
    return f"{PHONE_PREFIX}{national}"


@dataclass(frozen=True, slots=True)
class KeyedDnc:
    """One DNC record as the topic holds it."""

    key: str
    entry: m.DncEntry
    campaign_uuid: str  # "" for a global number (placed by its key, not by partition_for)


def split_dnc(entry: m.DncEntry) -> list[KeyedDnc]:
    """One record per customer or number, each under its own key. Numbers that are not a
    valid Vietnamese number are dropped (the engine ignores them too)."""
    out = [
        KeyedDnc(customer_key(entry.campaign_uuid, c),
                 m.DncEntry(op=entry.op, campaign_uuid=entry.campaign_uuid, customer_ids=[c]),
                 entry.campaign_uuid)
        for c in dict.fromkeys(entry.customer_ids) if entry.campaign_uuid
    ]
    nationals = (normalize(raw) for raw in entry.phone_numbers)
    for national in dict.fromkeys(p.national for p in nationals if isinstance(p, PhoneNumber)):
        out.append(KeyedDnc(phone_key(national),
                            m.DncEntry(op=entry.op, phone_numbers=[national]), ""))
    return out


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a tombstone deletes: a campaign, a campaign's customer, or a global number."""

    campaign_uuid: str = ""
    customer_id: str = ""
    phone: str = ""


def control_tombstone(key: str) -> Deleted | None:
    """A tombstone of ``<campaign_uuid>`` deletes the campaign; of a sub-key, nothing."""
    _campaign, sep, tail = key.rpartition("/")
    if not key or len(key) > MAX_ID or (sep and tail in SUBKEYS):
        return None
    return Deleted(campaign_uuid=key)


def dnc_tombstone(key: str) -> Deleted | None:
    if key.startswith(PHONE_PREFIX):
        phone = key[len(PHONE_PREFIX):]
        return Deleted(phone=phone) if phone else None
    if key.startswith(DNC_PREFIX):
        campaign, sep, customer = key[len(DNC_PREFIX):].partition("/")
        if campaign and sep and customer and len(campaign) <= MAX_ID:
            return Deleted(campaign_uuid=campaign, customer_id=customer)
    return None
