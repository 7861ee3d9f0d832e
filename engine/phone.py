"""Vietnamese phone numbers: normalisation, carrier by prefix, the campaign ``network`` key.

``normalize`` never raises on any string: it returns a ``PhoneNumber`` or an ``InvalidPhone``
with a typed reason (and a masked copy of the input, safe to log). Rules (vietnam.md):

- The input, stripped at both ends, may hold ASCII digits, spaces, dots, dashes, parentheses
  and one leading "+", at most ``MAX_INPUT_CHARS`` characters; anything else ("0901234567,
  0912345678", embedded newlines, letters, other scripts' digits) is ``bad_characters``, so a
  list of numbers or an injection attempt is never half-accepted.
- Country code: "+84…", "0084…", or a bare "84" followed by a 9- or 10-digit national
  significant number; a redundant trunk "0" after it ("+84 (0) 90…", "840…") is dropped.
  Another country code ("+1…", "001…") is ``foreign_country_code``.
- Without a country code, 9 or 10 digits lacking the leading "0" get one (090… typed as 90…).
- Old 11-digit mobile numbers (01xx, converted 2018–2019) are mapped to their new prefix from
  the CSV's legacy column: 0162 123 4567 → 032 123 4567.
- Mobile: ``0[35789]`` + 8 digits with a prefix from vn_mobile_prefixes.csv. Our table is the
  authority for mobiles, not libphonenumber: it validates only parts of 052, 055, 089 and 099,
  labels iTel's 087 as Vinaphone, and still accepts 030, 031, 051 and 095, which no carrier
  holds.
- Landline: ``02`` + 9 digits with an area code from vn_landline_codes.csv (024 and 028 + 8
  digits, 02XX + 7 digits), and libphonenumber must call it a fixed line: it knows which
  subscriber ranges are allocated (024 0…/024 1… are not), which our table does not.
- A prefix names only the original carrier (number portability), so ``carrier`` and
  ``network_key`` are for routing and caps, not for refusing a call.

``network_key`` is the seeds' campaign ``network`` cap key: Viettel → viettel, VinaPhone →
vina, MobiFone → mobi, landlines → tel, everything else → offnet. iTel (087) counts as offnet:
it rides on VinaPhone's radio network but is a separately licensed carrier (Indochina
Telecom) with its own number block, and vietnam.md maps "everything else" to offnet. The
choice lives in one table, ``NETWORK_KEY_BY_CARRIER``.

Phone numbers never go to logs: ``repr(PhoneNumber)`` shows the masked number only; use
``mask`` for any other string that may hold one.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType

import phonenumbers

from engine.errors import DialerError

__all__ = [
    "MAX_INPUT_CHARS",
    "NETWORK_KEY_BY_CARRIER",
    "Carrier",
    "InvalidPhone",
    "InvalidReason",
    "NetworkKey",
    "Packed",
    "PhoneDataError",
    "PhoneKind",
    "PhoneNumber",
    "from_national",
    "mask",
    "normalize",
    "pack",
    "remember",
    "unpack",
]

MAX_INPUT_CHARS = 32  # "+84 (0) 162-123-4567" is 20; longer input is not one phone number


class PhoneDataError(DialerError):
    """The packaged prefix tables are missing or malformed (a packaging bug)."""


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"


class Carrier(StrEnum):
    VIETTEL = "Viettel"
    VINAPHONE = "VinaPhone"
    MOBIFONE = "MobiFone"
    VIETNAMOBILE = "Vietnamobile"
    GMOBILE = "Gmobile"
    ITEL = "iTel"
    REDDI = "Reddi"
    LANDLINE = "landline"


class NetworkKey(StrEnum):
    """Keys of the campaign ``network`` object (seed 001)."""

    VIETTEL = "viettel"
    VINA = "vina"
    MOBI = "mobi"
    TEL = "tel"
    OFFNET = "offnet"


NETWORK_KEY_BY_CARRIER: Mapping[Carrier, NetworkKey] = MappingProxyType(
    {
        Carrier.VIETTEL: NetworkKey.VIETTEL,
        Carrier.VINAPHONE: NetworkKey.VINA,
        Carrier.MOBIFONE: NetworkKey.MOBI,
        Carrier.VIETNAMOBILE: NetworkKey.OFFNET,
        Carrier.GMOBILE: NetworkKey.OFFNET,
        Carrier.ITEL: NetworkKey.OFFNET,
        Carrier.REDDI: NetworkKey.OFFNET,
        Carrier.LANDLINE: NetworkKey.TEL,
    }
)


class InvalidReason(StrEnum):
    EMPTY = "empty"  # no digits at all
    TOO_LONG = "too_long"
    BAD_CHARACTERS = "bad_characters"
    FOREIGN_COUNTRY_CODE = "foreign_country_code"
    WRONG_LENGTH = "wrong_length"
    UNKNOWN_PREFIX = "unknown_prefix"
    UNKNOWN_AREA_CODE = "unknown_area_code"
    UNALLOCATED_LANDLINE = "unallocated_landline"


def mask(national: str) -> str:
    """Hide a phone number for logs: "0901234567" → "090****567".

    Strings shorter than 10 characters are all stars; at most 10 stars are written, and only
    digits and "+" are ever shown, so a hostile string cannot inject text into a log line.
    """
    if len(national) < 10:
        return "*" * len(national)

    def shown(part: str) -> str:
        return "".join(ch if ch in "+0123456789" else "*" for ch in part)

    return f"{shown(national[:3])}{'*' * min(len(national) - 6, 10)}{shown(national[-3:])}"


@dataclass(frozen=True, slots=True, repr=False)
class PhoneNumber:
    """A valid Vietnamese number. ``national`` is the dialable 0-prefixed form."""

    e164: str  # "+84901234567"
    national: str  # "0901234567"
    kind: PhoneKind
    carrier: Carrier  # original carrier by prefix; Carrier.LANDLINE for fixed lines
    network_key: NetworkKey

    @property
    def masked(self) -> str:
        return mask(self.national)

    def __repr__(self) -> str:
        return (
            f"PhoneNumber(national={self.masked!r}, kind={self.kind.value!r}, "
            f"carrier={self.carrier.value!r}, network_key={self.network_key.value!r})"
        )


@dataclass(frozen=True, slots=True)
class InvalidPhone:
    """Why an input is not a dialable Vietnamese number; ``masked`` is safe to log."""

    reason: InvalidReason
    masked: str


@dataclass(frozen=True, slots=True)
class _Tables:
    mobile: Mapping[str, Carrier]  # "090" → MobiFone
    legacy: Mapping[str, str]  # "0162" → "032"
    area_codes: frozenset[str]  # "024", "0236", …


def _read_csv(name: str) -> list[dict[str, str]]:
    try:
        text = (resources.files("engine") / "data" / name).read_text(encoding="utf-8")
    except OSError as err:
        raise PhoneDataError(f"cannot read packaged engine/data/{name}") from err
    return list(csv.DictReader(io.StringIO(text)))


_MOBILE_CARRIERS = frozenset(c.value for c in Carrier if c is not Carrier.LANDLINE)


@functools.cache
def _tables() -> _Tables:
    mobile: dict[str, Carrier] = {}
    legacy: dict[str, str] = {}
    for row in _read_csv("vn_mobile_prefixes.csv"):
        prefix, legacy_prefix = row["prefix"], row["legacy_11digit_prefix"]
        name = row["carrier"].split(" (", 1)[0]  # "Gmobile (Gtel)" → "Gmobile"
        if not re.fullmatch(r"0[35789][0-9]", prefix) or name not in _MOBILE_CARRIERS:
            raise PhoneDataError(f"bad row in vn_mobile_prefixes.csv: {row}")
        mobile[prefix] = Carrier(name)
        if legacy_prefix:
            if not re.fullmatch(r"01[0-9]{2}", legacy_prefix):
                raise PhoneDataError(f"bad legacy prefix in vn_mobile_prefixes.csv: {row}")
            legacy[legacy_prefix] = prefix
    area_codes = frozenset(row["area_code"] for row in _read_csv("vn_landline_codes.csv"))
    for code in area_codes:
        # 3-digit codes (024, 028) take 8 more digits, 4-digit codes 7: 11 digits either way.
        if not re.fullmatch(r"02[0-9]{1,2}", code):
            raise PhoneDataError(f"bad area code in vn_landline_codes.csv: {code!r}")
    return _Tables(MappingProxyType(mobile), MappingProxyType(legacy), area_codes)


_ALLOWED = re.compile(r"\+?[0-9 .()\-]*")
_NOT_DIGIT = re.compile(r"[^0-9]")
_FIXED_LINE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def normalize(raw: str) -> PhoneNumber | InvalidPhone:
    """Parse one Vietnamese phone number in any common written form; never raises."""
    s = raw.strip()
    if not s:
        return InvalidPhone(InvalidReason.EMPTY, "")
    if len(s) > MAX_INPUT_CHARS:
        return InvalidPhone(InvalidReason.TOO_LONG, mask(s))
    if not _ALLOWED.fullmatch(s):
        return InvalidPhone(InvalidReason.BAD_CHARACTERS, mask(s))
    digits = _NOT_DIGIT.sub("", s)
    if not digits:
        return InvalidPhone(InvalidReason.EMPTY, mask(s))

    significant: str | None = None  # national significant number, after a country code
    if s.startswith("+"):
        if not digits.startswith("84"):
            return InvalidPhone(InvalidReason.FOREIGN_COUNTRY_CODE, mask(digits))
        significant = digits[2:]
    elif digits.startswith("0084"):
        significant = digits[4:]
    elif digits.startswith("00"):
        return InvalidPhone(InvalidReason.FOREIGN_COUNTRY_CODE, mask(digits))
    elif digits.startswith("84") and len(digits) in (11, 12, 13):
        # No national number starts with 84 at these lengths: 84 + 9 (mobile), 84 + 10
        # (landline or legacy mobile, or mobile with a redundant 0), 840 + 10.
        significant = digits[2:]

    if significant is not None:
        national = "0" + significant.removeprefix("0")
    elif digits.startswith("0"):
        national = digits
    elif len(digits) in (9, 10):
        national = "0" + digits
    else:
        return InvalidPhone(InvalidReason.WRONG_LENGTH, mask(digits))
    return _classify(national)


def _classify(national: str) -> PhoneNumber | InvalidPhone:
    tables = _tables()
    if len(national) not in (10, 11):
        return InvalidPhone(InvalidReason.WRONG_LENGTH, mask(national))
    if national.startswith("01"):
        if len(national) != 11:
            return InvalidPhone(InvalidReason.WRONG_LENGTH, mask(national))
        new_prefix = tables.legacy.get(national[:4])
        if new_prefix is None:
            return InvalidPhone(InvalidReason.UNKNOWN_PREFIX, mask(national))
        national = new_prefix + national[4:]

    if national[1:2] in ("3", "5", "7", "8", "9"):
        if len(national) != 10:
            return InvalidPhone(InvalidReason.WRONG_LENGTH, mask(national))
        carrier = tables.mobile.get(national[:3])
        if carrier is None:
            return InvalidPhone(InvalidReason.UNKNOWN_PREFIX, mask(national))
        return _number(national, PhoneKind.MOBILE, carrier)

    if national.startswith("02"):
        if len(national) != 11:
            return InvalidPhone(InvalidReason.WRONG_LENGTH, mask(national))
        if national[:3] not in tables.area_codes and national[:4] not in tables.area_codes:
            return InvalidPhone(InvalidReason.UNKNOWN_AREA_CODE, mask(national))
        if not _is_fixed_line(national):
            return InvalidPhone(InvalidReason.UNALLOCATED_LANDLINE, mask(national))
        return _number(national, PhoneKind.LANDLINE, Carrier.LANDLINE)

    return InvalidPhone(InvalidReason.UNKNOWN_PREFIX, mask(national))


def _is_fixed_line(national: str) -> bool:
    try:
        parsed = phonenumbers.parse(national, "VN")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in _FIXED_LINE_TYPES


def _number(national: str, kind: PhoneKind, carrier: Carrier) -> PhoneNumber:
    return PhoneNumber(
        e164="+84" + national[1:],
        national=national,
        kind=kind,
        carrier=carrier,
        network_key=NETWORK_KEY_BY_CARRIER[carrier],
    )


# ---- compact storage (a queued lead keeps its numbers packed) -------------------------
# A national number always starts with "0" and is 10 or 11 digits, so it is stored as the
# int of its digits (28-32 bytes, against ~180 for a PhoneNumber with its two strings);
# several numbers as a tuple of those ints. The carrier is a pure function of the prefix
# (``normalize`` already validated the number and mapped legacy prefixes), so unpacking
# needs no second validation.
Packed = int | tuple[int, ...]


def pack(phones: tuple[PhoneNumber, ...]) -> Packed:
    if len(phones) == 1:
        return int(phones[0].national)
    return tuple(int(p.national) for p in phones)


def from_national(national: str) -> PhoneNumber:
    """The PhoneNumber of a national number ``normalize`` accepted before."""
    if national.startswith("02"):
        return _number(national, PhoneKind.LANDLINE, Carrier.LANDLINE)
    return _number(national, PhoneKind.MOBILE, _tables().mobile[national[:3]])


_UNPACKED: dict[Packed, tuple[PhoneNumber, ...]] = {}
_UNPACKED_MAX = 4096


def remember(packed: Packed, phones: tuple[PhoneNumber, ...]) -> None:
    """Seed the cache with numbers just parsed (a new lead is read again at once: its
    queue lane, the do-not-call check)."""
    if len(_UNPACKED) >= _UNPACKED_MAX:
        del _UNPACKED[next(iter(_UNPACKED))]  # first in, first out: bounded, O(1)
    _UNPACKED[packed] = phones


def unpack(packed: Packed) -> tuple[PhoneNumber, ...]:
    """Inverse of ``pack``. Cached (bounded): the scheduler reads a lead's numbers several
    times per dial, and the numbers of the leads being dialed now stay in the cache."""
    phones = _UNPACKED.get(packed)
    if phones is None:
        if isinstance(packed, int):
            phones = (from_national(f"0{packed}"),)
        else:
            phones = tuple(from_national(f"0{n}") for n in packed)
        remember(packed, phones)
    return phones
