"""Vietnamese words for numbers, digit strings, years, dates and template values (seed 000).

Why our own module and not a library: num2words 0.5.14 says "lẻ" where "không trăm" belongs
(1015 → "một nghìn lẻ mười lăm") and misreads 10^15; vn-numberwords is correct on the usual
values but young and small; and no library reads years the way the seed does ("hai không hai
mươi mốt"), so year, date and template classification would be ours in any case. The rules
below are few, and every one of them is pinned by tests/engine/test_vnread.py.

Rules (seed 000's examples and common Vietnamese usage):

- Digits: không một hai ba bốn năm sáu bảy tám chín.
- Tens: 10 "mười"; 20…90 "<digit> mươi".
- Final unit after a tens word: 1 is "mốt" after twenty or more (21 "hai mươi mốt") but "một"
  after "mười" (11 "mười một"); 5 is "lăm" after any tens word (15 "mười lăm", 25 "hai mươi
  lăm"); 4 is "bốn", or "tư" after twenty or more when ``Dialect.four_as_tu`` is set (14 is
  always "mười bốn").
- A zero tens digit after spoken hundreds is "linh" (North) or "lẻ" (South), and the unit then
  keeps its plain name: 101 "một trăm linh một", 105 "một trăm linh năm", 104 "một trăm linh bốn".
- Numbers are read in groups of three digits with the scale words "nghìn"/"ngàn", "triệu" and
  "tỷ". At or above 10^9 the part above "tỷ" is itself read as a number, which gives "một nghìn
  tỷ" (10^12) and "một triệu tỷ" (10^15) without further scale words.
- The most significant group is read as it is (12 "mười hai", 105 "một trăm linh năm"). Every
  later non-zero group is read with all three digits, so a zero hundreds digit is spoken:
  1015 "một nghìn không trăm mười lăm", 1000001 "một triệu không trăm linh một". A group of
  three zeros is skipped with its scale word: 1000000 "một triệu". This keeps the reading
  injective: "một triệu linh một" would drop the information that two groups were skipped,
  and it is what num2words gets wrong.
- Years (the seed's style; no library does it): the first two digits one by one, the last two
  as a number: 2021 "hai không hai mươi mốt", 1999 "một chín chín mươi chín", 2010 "hai không
  mười". The seed leaves 00…09 open; we read them as two digits, so all four digits stay
  audible and one rule covers every year: 2005 "hai không không năm", 2000 "hai không không
  không". "hai không linh năm" would mix digit reading and number reading in one word group.
- Dates: "<day> tháng <month> năm <year>"; day and month as numbers, except that April is
  "tháng tư" (its name in Vietnamese; "tháng bốn" is not said). January is "tháng một" as the
  seed writes it (not "tháng giêng"). No "ngày" and no "mùng": the template supplies the words
  around a value ("… trước ngày {{due_date}}").

Template values (``read_value``), classified in this order:

1. ``dd/mm/yyyy`` (one-digit day or month accepted) or ``yyyy-mm-dd`` naming a real date with
   a four-digit year ≥ 1000 → date; a date-shaped string that is not a real date is text.
2. ``#15`` → the number ("mười lăm").
3. Single digits separated by single spaces ("0 9 8 7") → digit by digit.
4. A bare digit string → an amount ("10410000" → "mười triệu bốn trăm mười nghìn"), except
   that a string of two or more digits starting with 0 is read digit by digit: no amount is
   written with a leading zero, and the seed's own import sample sends a phone number
   ("sdt": "0331111111") that must not become "ba trăm ba mươi mốt triệu …".
5. Thousands separators "1.500.000" or "1,500,000" (groups of exactly three digits, one kind
   of separator) → the integer amount, never a float: "1.500" is fifteen hundred.
6. Anything else ("Nguyễn Văn A", "1.5", "-3") is returned unchanged.

Numbers of 10^18 or more (beyond "triệu tỷ") in forms 2, 4 and 5 are read digit by digit.
Only ASCII digits count as digits everywhere (``str.isdigit`` would accept "²" and "٣").
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import DialerError

__all__ = [
    "MAX_NUMBER",
    "NORTH",
    "SOUTH",
    "Dialect",
    "TemplateValue",
    "UnreadableValue",
    "read_date",
    "read_digits",
    "read_number",
    "read_otp",
    "read_value",
    "read_year",
    "render_template",
]

MAX_NUMBER = 10**18 - 1

_DIGIT_WORDS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_MONTH_WORDS = (
    "",
    "một",
    "hai",
    "ba",
    "tư",
    "năm",
    "sáu",
    "bảy",
    "tám",
    "chín",
    "mười",
    "mười một",
    "mười hai",
)
_BILLION = 10**9


class UnreadableValue(DialerError, ValueError):
    """An argument outside what the reader defines (negative, too large, not a date...)."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """Regional word choices. Derive variants with ``dataclasses.replace(NORTH, ...)``."""

    name: str
    thousand: str  # "nghìn" (North) / "ngàn" (South)
    zero_tens: str  # "linh" (North) / "lẻ" (South): 101 "một trăm linh một"
    four_as_tu: bool = False  # 24 "hai mươi tư" instead of "hai mươi bốn"


NORTH = Dialect(name="north", thousand="nghìn", zero_tens="linh")
SOUTH = Dialect(name="south", thousand="ngàn", zero_tens="lẻ")


def _triple(n: int, *, full: bool, dialect: Dialect) -> list[str]:
    """Words for 1 ≤ n ≤ 999; ``full`` speaks a zero hundreds digit ("không trăm")."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if full or hundreds:
        words += [_DIGIT_WORDS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append(dialect.zero_tens)
            words.append(_DIGIT_WORDS[units])
        return words
    if tens == 1:
        words.append("mười")
    else:
        words += [_DIGIT_WORDS[tens], "mươi"]
    if units == 5:
        words.append("lăm")
    elif units == 1 and tens >= 2:
        words.append("mốt")
    elif units == 4 and tens >= 2 and dialect.four_as_tu:
        words.append("tư")
    elif units:
        words.append(_DIGIT_WORDS[units])
    return words


def _below_billion(n: int, *, leading: bool, dialect: Dialect) -> list[str]:
    """Words for 1 ≤ n < 10^9; ``leading`` when nothing larger has been spoken before it."""
    words: list[str] = []
    groups = ((n // 1_000_000, "triệu"), (n // 1000 % 1000, dialect.thousand), (n % 1000, ""))
    for value, scale in groups:
        if not value:
            continue
        words += _triple(value, full=not leading, dialect=dialect)
        if scale:
            words.append(scale)
        leading = False
    return words


def read_number(n: int, *, dialect: Dialect = NORTH) -> str:
    """Read 0 ≤ n ≤ 10^18 - 1 as Vietnamese words: 1015 → "một nghìn không trăm mười lăm"."""
    if not 0 <= n <= MAX_NUMBER:
        raise UnreadableValue(f"read_number is defined for 0 … 10^18-1, got {n}")
    if n == 0:
        return _DIGIT_WORDS[0]
    above, below = divmod(n, _BILLION)
    words: list[str] = []
    if above:
        words += _below_billion(above, leading=True, dialect=dialect)
        words.append("tỷ")
    if below:
        words += _below_billion(below, leading=not above, dialect=dialect)
    return " ".join(words)


def read_digits(s: str) -> str:
    """Read each ASCII digit of ``s``: "0912" → "không chín một hai". Whitespace is ignored."""
    digits = "".join(s.split())
    if not digits or not all("0" <= ch <= "9" for ch in digits):
        raise UnreadableValue("read_digits needs one or more ASCII digits and nothing else")
    return " ".join(_DIGIT_WORDS[int(ch)] for ch in digits)


def read_year(y: int, *, dialect: Dialect = NORTH) -> str:
    """Read a four-digit year the seed's way: 2021 → "hai không hai mươi mốt"."""
    if not 1000 <= y <= 9999:
        raise UnreadableValue(f"read_year is defined for 1000 … 9999, got {y}")
    head, tail = divmod(y, 100)
    words = [_DIGIT_WORDS[head // 10], _DIGIT_WORDS[head % 10]]
    if tail < 10:
        words += [_DIGIT_WORDS[0], _DIGIT_WORDS[tail]]
    else:
        words.append(read_number(tail, dialect=dialect))
    return " ".join(words)


def read_date(day: int, month: int, year: int, *, dialect: Dialect = NORTH) -> str:
    """30/01/2021 → "ba mươi tháng một năm hai không hai mươi mốt" (no leading "ngày")."""
    try:
        datetime.date(year, month, day)
    except ValueError as err:
        raise UnreadableValue(f"not a date: {day}/{month}/{year}") from err
    return (
        f"{read_number(day, dialect=dialect)} tháng {_MONTH_WORDS[month]} "
        f"năm {read_year(year, dialect=dialect)}"
    )


def read_otp(code: str, repeat: int = 2) -> str:
    """An OTP for voice: the digits one by one, the whole said ``repeat`` times."""
    if repeat < 1:
        raise UnreadableValue(f"repeat must be at least 1, got {repeat}")
    return ", ".join([read_digits(code)] * repeat)


_DMY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_YMD = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_HASH_NUMBER = re.compile(r"#([0-9]+)")
_SPACED_DIGITS = re.compile(r"[0-9](?: [0-9])+")
_BARE_DIGITS = re.compile(r"[0-9]+")
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+|[1-9][0-9]{0,2}(?:,[0-9]{3})+")


def _amount(digits: str, dialect: Dialect) -> str:
    value = int(digits)
    if value > MAX_NUMBER:
        return read_digits(digits)
    return read_number(value, dialect=dialect)


def _date_or_none(day: str, month: str, year: str, dialect: Dialect) -> str | None:
    if int(year) < 1000:
        return None
    try:
        return read_date(int(day), int(month), int(year), dialect=dialect)
    except UnreadableValue:
        return None


def read_value(raw: str, *, dialect: Dialect = NORTH) -> str:
    """Classify one template value (seed 000) and read it; unrecognised text is unchanged."""
    s = raw.strip()
    if m := _DMY.fullmatch(s):
        if (spoken := _date_or_none(m[1], m[2], m[3], dialect)) is not None:
            return spoken
        return raw
    if m := _YMD.fullmatch(s):
        if (spoken := _date_or_none(m[3], m[2], m[1], dialect)) is not None:
            return spoken
        return raw
    if m := _HASH_NUMBER.fullmatch(s):
        return _amount(m[1], dialect)
    if _SPACED_DIGITS.fullmatch(s):
        return read_digits(s)
    if _BARE_DIGITS.fullmatch(s):
        if len(s) > 1 and s[0] == "0":
            return read_digits(s)
        return _amount(s, dialect)
    if _GROUPED.fullmatch(s):
        return _amount(s.replace(".", "").replace(",", ""), dialect)
    return raw


_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")

TemplateValue = str | int | float | bool | None


def _spoken_param(value: TemplateValue, dialect: Dialect) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # str(1.125) is "1.125", which the Vietnamese grouping rule would read as 1125.
        if math.isfinite(value) and value.is_integer():
            return _amount(str(int(value)), dialect) if value >= 0 else str(value)
        return str(value)
    return read_value(str(value), dialect=dialect)


def render_template(
    template: str, params: Mapping[str, TemplateValue], *, dialect: Dialect = NORTH
) -> str:
    """Replace each ``{{key}}`` (spaces allowed inside the braces) with its spoken value.

    Values go through ``read_value``; ints are therefore amounts, integral floats too, other
    floats and bools are their ``str``. A key missing from ``params`` or mapped to None renders
    as the empty string, so a script never speaks its placeholder syntax; the surrounding text
    is kept as written. Substituted text is not scanned again: a value containing "{{x}}" is
    spoken literally, never expanded.
    """
    return _PLACEHOLDER.sub(lambda m: _spoken_param(params.get(m[1]), dialect), template)
