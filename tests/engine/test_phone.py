"""engine.phone: normalisation, carriers and network keys from the packaged CSVs (vietnam.md)."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.phone import (
    MAX_INPUT_CHARS,
    NETWORK_KEY_BY_CARRIER,
    Carrier,
    InvalidPhone,
    InvalidReason,
    NetworkKey,
    PhoneKind,
    PhoneNumber,
    mask,
    normalize,
)


def _packaged_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("engine") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


MOBILE_ROWS = _packaged_csv("vn_mobile_prefixes.csv")
AREA_CODES = [row["area_code"] for row in _packaged_csv("vn_landline_codes.csv")]

# The seeds' network keys (vietnam.md); iTel is offnet by our decision (see engine.phone).
EXPECTED_NETWORK = {"Viettel": "viettel", "VinaPhone": "vina", "MobiFone": "mobi"}

# The 2018–2019 conversion as published by the ministry, written out independently of the CSV.
LEGACY = {
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039",
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    "0186": "056", "0188": "058", "0199": "059",
}  # fmt: skip


def valid(raw: str) -> PhoneNumber:
    result = normalize(raw)
    assert isinstance(result, PhoneNumber), result
    return result


def invalid(raw: str) -> InvalidPhone:
    result = normalize(raw)
    assert isinstance(result, InvalidPhone), result
    return result


def test_the_csv_has_every_carrier_of_vietnam_md() -> None:
    prefixes = {row["prefix"] for row in MOBILE_ROWS}
    assert len(prefixes) == len(MOBILE_ROWS) == 36
    assert {"032", "039", "086", "096", "098", "081", "085", "088", "091", "094"} <= prefixes
    assert {"070", "076", "079", "089", "090", "093", "052", "056", "058", "092"} <= prefixes
    assert {"059", "099", "087", "055"} <= prefixes
    assert len(AREA_CODES) == len(set(AREA_CODES)) == 63


@pytest.mark.parametrize("row", MOBILE_ROWS, ids=lambda row: row["prefix"])
def test_every_mobile_prefix_maps_to_its_carrier_and_network(row: dict[str, str]) -> None:
    number = valid(row["prefix"] + "6234567")
    carrier_name = row["carrier"].split(" (")[0]
    assert number.kind is PhoneKind.MOBILE
    assert number.carrier == carrier_name
    assert number.network_key == EXPECTED_NETWORK.get(carrier_name, "offnet")
    assert number.national == row["prefix"] + "6234567"
    assert number.e164 == "+84" + row["prefix"][1:] + "6234567"


@pytest.mark.parametrize("row", MOBILE_ROWS, ids=lambda row: row["prefix"])
def test_mobile_e164_agrees_with_libphonenumber(row: dict[str, str]) -> None:
    for digit in "0123456789":
        national = row["prefix"] + digit + "234567"
        parsed = phonenumbers.parse(national, "VN")
        if phonenumbers.is_valid_number(parsed):  # it lags behind on 052, 055, 089, 099
            assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            assert valid(national).e164 == e164


def test_carrier_examples_from_vietnam_md() -> None:
    assert valid("0961234567").carrier is Carrier.VIETTEL
    assert valid("0911234567").network_key is NetworkKey.VINA
    assert valid("0901234567").network_key is NetworkKey.MOBI
    assert valid("0921234567").carrier is Carrier.VIETNAMOBILE
    assert valid("0991234567").carrier is Carrier.GMOBILE
    assert valid("0551234567").carrier is Carrier.REDDI
    itel = valid("0871234567")
    assert itel.carrier is Carrier.ITEL
    assert itel.network_key is NetworkKey.OFFNET  # separately licensed carrier, see docstring


def test_network_table_covers_every_carrier() -> None:
    assert set(NETWORK_KEY_BY_CARRIER) == set(Carrier)
    assert {key.value for key in NetworkKey} == {"viettel", "mobi", "vina", "tel", "offnet"}
    assert NETWORK_KEY_BY_CARRIER[Carrier.LANDLINE] is NetworkKey.TEL


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY.items()))
def test_legacy_eleven_digit_prefixes(old: str, new: str) -> None:
    for raw in (old + "1234567", "+84 " + old[1:] + " 123 4567", "84" + old[1:] + "1234567"):
        number = valid(raw)
        assert number.national == new + "1234567"
        assert number.e164 == "+84" + new[1:] + "1234567"


def test_every_legacy_prefix_in_the_csv_is_known() -> None:
    in_csv = {row["legacy_11digit_prefix"]: row["prefix"] for row in MOBILE_ROWS}
    in_csv.pop("", None)
    assert in_csv == LEGACY


@pytest.mark.parametrize("old", ["0100", "0130", "0161", "0187", "0190", "0198"])
def test_unknown_legacy_prefix_is_invalid(old: str) -> None:
    assert invalid(old + "1234567").reason is InvalidReason.UNKNOWN_PREFIX


@pytest.mark.parametrize(
    "raw",
    [
        "0901234567",
        "090 123 4567",
        "090.123.4567",
        "090-123-4567",
        "(090) 123-4567",
        "901234567",  # 9 digits without the leading 0
        "+84901234567",
        "+84 90 123 4567",
        "+84 (0) 90 123 4567",
        "+840901234567",
        "84901234567",
        "840901234567",
        "0084901234567",
        "0084 90 123 4567",
        "00840901234567",
        "  0901234567\n",
    ],
)
def test_country_code_and_separator_forms(raw: str) -> None:
    number = valid(raw)
    assert number.national == "0901234567"
    assert number.e164 == "+84901234567"
    assert number.carrier is Carrier.MOBIFONE


@pytest.mark.parametrize(
    "raw", ["02438261234", "024 3826 1234", "+84 24 3826 1234", "842438261234", "2438261234"]
)
def test_hanoi_landline_forms(raw: str) -> None:
    number = valid(raw)
    assert number.national == "02438261234"
    assert number.e164 == "+842438261234"
    assert number.kind is PhoneKind.LANDLINE
    assert number.carrier is Carrier.LANDLINE
    assert number.network_key is NetworkKey.TEL


@pytest.mark.parametrize("code", AREA_CODES)
def test_every_area_code_is_a_landline(code: str) -> None:
    national = (code + "3821234567")[:11]
    number = valid(national)
    assert number.kind is PhoneKind.LANDLINE
    assert number.network_key is NetworkKey.TEL
    assert number.e164 == phonenumbers.format_number(
        phonenumbers.parse(national, "VN"), phonenumbers.PhoneNumberFormat.E164
    )


def test_area_codes_are_prefix_free() -> None:
    for a in AREA_CODES:
        for b in AREA_CODES:
            assert a == b or not b.startswith(a)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", InvalidReason.EMPTY),
        ("   ", InvalidReason.EMPTY),
        ("+", InvalidReason.EMPTY),
        ("()-.", InvalidReason.EMPTY),
        ("0901234567,0912345678", InvalidReason.BAD_CHARACTERS),
        ("0901234567;0912345678", InvalidReason.BAD_CHARACTERS),
        ("0901234567\n\napi hupall", InvalidReason.BAD_CHARACTERS),
        ("0901234567\r\nbgapi originate", InvalidReason.BAD_CHARACTERS),
        ("0901234567\x00", InvalidReason.BAD_CHARACTERS),
        ("090123456x", InvalidReason.BAD_CHARACTERS),
        ("sofia/gateway/x/0901234567", InvalidReason.BAD_CHARACTERS),
        ("090 123 4567 ext 12", InvalidReason.BAD_CHARACTERS),
        ("++84901234567", InvalidReason.BAD_CHARACTERS),
        ("0901+234567", InvalidReason.BAD_CHARACTERS),
        ("０９０１２３４５６７", InvalidReason.BAD_CHARACTERS),  # fullwidth digits
        ("٠٩٠١٢٣٤٥٦٧", InvalidReason.BAD_CHARACTERS),  # Arabic-Indic digits
        ("0901234567" * 500, InvalidReason.TOO_LONG),
        ("9" * (MAX_INPUT_CHARS + 1), InvalidReason.TOO_LONG),
        ("+1 415 555 0100", InvalidReason.FOREIGN_COUNTRY_CODE),
        ("+66 81 234 5678", InvalidReason.FOREIGN_COUNTRY_CODE),
        ("0066812345678", InvalidReason.FOREIGN_COUNTRY_CODE),
        ("0", InvalidReason.WRONG_LENGTH),
        ("090123456", InvalidReason.WRONG_LENGTH),
        ("09012345678", InvalidReason.WRONG_LENGTH),
        ("090123456789", InvalidReason.WRONG_LENGTH),
        ("12345", InvalidReason.WRONG_LENGTH),
        ("+8490123456", InvalidReason.WRONG_LENGTH),
        ("0162123456", InvalidReason.WRONG_LENGTH),
        ("0243826123", InvalidReason.WRONG_LENGTH),  # pre-2017 style Hà Nội length
        ("0301234567", InvalidReason.UNKNOWN_PREFIX),  # libphonenumber accepts 030; no carrier
        ("0951234567", InvalidReason.UNKNOWN_PREFIX),  # S-Fone, closed
        ("0801234567", InvalidReason.UNKNOWN_PREFIX),
        ("0401234567", InvalidReason.UNKNOWN_PREFIX),
        ("06012345678", InvalidReason.UNKNOWN_PREFIX),
        ("0600000000", InvalidReason.UNKNOWN_PREFIX),
        ("02301234567", InvalidReason.UNKNOWN_AREA_CODE),
        ("02171234567", InvalidReason.UNKNOWN_AREA_CODE),
        ("02401234567", InvalidReason.UNALLOCATED_LANDLINE),  # 024 0… is not allocated
        ("02812345678", InvalidReason.UNALLOCATED_LANDLINE),
    ],
)
def test_invalid_and_hostile_inputs(raw: str, reason: InvalidReason) -> None:
    assert invalid(raw).reason is reason


def test_reprs_never_show_the_number() -> None:
    number = valid("0901234567")
    assert "1234" not in repr(number)
    assert "090****567" in repr(number)
    assert number.masked == "090****567"
    assert "1234" not in repr(invalid("0901234567,0912345678"))
    assert "hupall" not in repr(invalid("0901234567\n\napi hupall"))


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("0901234567", "090****567"),
        ("02438261234", "024*****234"),
        ("+84901234567", "+84******567"),
        ("123456789", "*********"),
        ("", ""),
        ("0901234567" * 100, "090**********567"),
        ("ab\ncdefghij\n", "************"),
    ],
)
def test_mask(raw: str, masked: str) -> None:
    assert mask(raw) == masked


# --- properties -------------------------------------------------------------------------------

phoneish = st.text(alphabet="0123456789 +-.()84", max_size=20)
plausible = st.builds(
    lambda cc, prefix, rest: cc + prefix + rest,
    st.sampled_from(["", "0", "84", "840", "+84", "+84 ", "0084", "+84 (0) "]),
    st.sampled_from(
        [row["prefix"][1:] for row in MOBILE_ROWS]
        + [old[1:] for old in LEGACY]
        + [code[1:] for code in AREA_CODES]
        + ["30", "80", "1", "2"]
    ),
    st.text(alphabet="0123456789", min_size=6, max_size=9),
)


@given(st.text())
@example("0901234567\n\napi hupall")
@example("0" * 5000)
def test_normalize_never_raises(raw: str) -> None:
    result = normalize(raw)
    assert isinstance(result, PhoneNumber | InvalidPhone)


@given(st.one_of(phoneish, plausible, st.text()))
@example("+84 (0) 162 123 4567")
def test_normalize_is_idempotent(raw: str) -> None:
    result = normalize(raw)
    if isinstance(result, PhoneNumber):
        assert normalize(result.national) == result
        assert normalize(result.e164) == result
        assert re.fullmatch(r"0[35789][0-9]{8}|02[0-9]{9}", result.national)
        assert result.e164 == "+84" + result.national[1:]
        assert result.network_key is NETWORK_KEY_BY_CARRIER[result.carrier]
        assert (result.kind is PhoneKind.LANDLINE) == (result.carrier is Carrier.LANDLINE)
    else:
        assert "\n" not in result.masked


@given(plausible)
def test_valid_numbers_never_leak_through_the_mask(raw: str) -> None:
    result = normalize(raw)
    if isinstance(result, PhoneNumber):
        assert result.national not in repr(result)
        assert result.national[3:-3] not in result.masked
