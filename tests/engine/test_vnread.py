"""engine.vnread against seed 000 and vietnam.md: every rule with the sources' own values."""

from __future__ import annotations

import dataclasses
import datetime
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import DialerError
from engine.vnread import (
    MAX_NUMBER,
    NORTH,
    SOUTH,
    Dialect,
    UnreadableValue,
    read_date,
    read_digits,
    read_number,
    read_otp,
    read_value,
    read_year,
    render_template,
)

NORTH_TU = dataclasses.replace(NORTH, four_as_tu=True)

# (n, North, South): the values vietnam.md's library comparison used, and the brief's.
NUMBERS = [
    (0, "không", "không"),
    (1, "một", "một"),
    (4, "bốn", "bốn"),
    (5, "năm", "năm"),
    (10, "mười", "mười"),
    (11, "mười một", "mười một"),
    (14, "mười bốn", "mười bốn"),
    (15, "mười lăm", "mười lăm"),
    (20, "hai mươi", "hai mươi"),
    (21, "hai mươi mốt", "hai mươi mốt"),
    (24, "hai mươi bốn", "hai mươi bốn"),
    (25, "hai mươi lăm", "hai mươi lăm"),
    (55, "năm mươi lăm", "năm mươi lăm"),
    (91, "chín mươi mốt", "chín mươi mốt"),
    (100, "một trăm", "một trăm"),
    (101, "một trăm linh một", "một trăm lẻ một"),
    (104, "một trăm linh bốn", "một trăm lẻ bốn"),
    (105, "một trăm linh năm", "một trăm lẻ năm"),
    (110, "một trăm mười", "một trăm mười"),
    (111, "một trăm mười một", "một trăm mười một"),
    (115, "một trăm mười lăm", "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt", "một trăm hai mươi mốt"),
    (1000, "một nghìn", "một ngàn"),
    (1001, "một nghìn không trăm linh một", "một ngàn không trăm lẻ một"),
    (1015, "một nghìn không trăm mười lăm", "một ngàn không trăm mười lăm"),
    (1500, "một nghìn năm trăm", "một ngàn năm trăm"),
    (2021, "hai nghìn không trăm hai mươi mốt", "hai ngàn không trăm hai mươi mốt"),
    (10_000, "mười nghìn", "mười ngàn"),
    (15_000, "mười lăm nghìn", "mười lăm ngàn"),
    (105_000, "một trăm linh năm nghìn", "một trăm lẻ năm ngàn"),
    (1_000_000, "một triệu", "một triệu"),
    (1_000_001, "một triệu không trăm linh một", "một triệu không trăm lẻ một"),
    (1_001_000, "một triệu không trăm linh một nghìn", "một triệu không trăm lẻ một ngàn"),
    (1_500_000, "một triệu năm trăm nghìn", "một triệu năm trăm ngàn"),
    (10_410_000, "mười triệu bốn trăm mười nghìn", "mười triệu bốn trăm mười ngàn"),
    (10**9, "một tỷ", "một tỷ"),
    (1_000_005_000, "một tỷ không trăm linh năm nghìn", "một tỷ không trăm lẻ năm ngàn"),
    (10**12, "một nghìn tỷ", "một ngàn tỷ"),
    (10**15, "một triệu tỷ", "một triệu tỷ"),
    (
        1_000_000_000_000_015,
        "một triệu tỷ không trăm mười lăm",
        "một triệu tỷ không trăm mười lăm",
    ),
    (
        1_500_000_000_000_000,
        "một triệu năm trăm nghìn tỷ",
        "một triệu năm trăm ngàn tỷ",
    ),
]


@pytest.mark.parametrize(("n", "north", "south"), NUMBERS)
def test_read_number_both_dialects(n: int, north: str, south: str) -> None:
    assert read_number(n) == north
    assert read_number(n, dialect=NORTH) == north
    assert read_number(n, dialect=SOUTH) == south


def test_seed_amount() -> None:
    # seed 000: "10410000" → "mười triệu bốn trăm mười nghìn"
    assert read_number(10410000) == "mười triệu bốn trăm mười nghìn"


def test_largest_number() -> None:
    nines = "chín trăm chín mươi chín"
    below = f"{nines} triệu {nines} nghìn {nines}"
    assert read_number(MAX_NUMBER) == f"{below} tỷ {below}"


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (4, "bốn"),  # no tens word: never "tư"
        (14, "mười bốn"),  # always "mười bốn"
        (104, "một trăm linh bốn"),  # after "linh": the plain name
        (24, "hai mươi tư"),
        (94, "chín mươi tư"),
        (1024, "một nghìn không trăm hai mươi tư"),
        (24_000, "hai mươi tư nghìn"),
    ],
)
def test_four_as_tu_only_after_twenty(n: int, expected: str) -> None:
    assert read_number(n, dialect=NORTH_TU) == expected


def test_four_as_tu_is_off_by_default() -> None:
    assert NORTH.four_as_tu is False
    assert SOUTH.four_as_tu is False
    assert read_number(24) == "hai mươi bốn"


@pytest.mark.parametrize("n", [-1, MAX_NUMBER + 1, 10**30])
def test_read_number_out_of_range(n: int) -> None:
    with pytest.raises(UnreadableValue):
        read_number(n)


def test_unreadable_value_is_in_the_project_tree() -> None:
    assert issubclass(UnreadableValue, DialerError)
    assert issubclass(UnreadableValue, ValueError)


def test_read_digits() -> None:
    assert read_digits("0123456789") == "không một hai ba bốn năm sáu bảy tám chín"
    assert read_digits("0 9 8") == "không chín tám"
    assert read_digits("05") == "không năm"


@pytest.mark.parametrize("bad", ["", "  ", "12a", "1.2", "-1", "٣", "²"])
def test_read_digits_rejects_non_digits(bad: str) -> None:
    with pytest.raises(UnreadableValue):
        read_digits(bad)


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2021, "hai không hai mươi mốt"),  # seed 000
        (1999, "một chín chín mươi chín"),  # vietnam.md
        (2010, "hai không mười"),  # vietnam.md
        (2015, "hai không mười lăm"),
        (2024, "hai không hai mươi bốn"),
        (2025, "hai không hai mươi lăm"),
        (2011, "hai không mười một"),
        (2000, "hai không không không"),  # our choice for 00…09
        (2005, "hai không không năm"),
        (2009, "hai không không chín"),
        (1900, "một chín không không"),
        (1000, "một không không không"),
        (9999, "chín chín chín mươi chín"),
    ],
)
def test_read_year(year: int, expected: str) -> None:
    assert read_year(year) == expected


def test_read_year_tu_setting() -> None:
    assert read_year(2024, dialect=NORTH_TU) == "hai không hai mươi tư"


@pytest.mark.parametrize("year", [0, 999, 10_000, -2021])
def test_read_year_out_of_range(year: int) -> None:
    with pytest.raises(UnreadableValue):
        read_year(year)


def test_read_date_seed() -> None:
    assert read_date(30, 1, 2021) == "ba mươi tháng một năm hai không hai mươi mốt"


@pytest.mark.parametrize(
    ("month", "word"),
    [
        (1, "một"),
        (2, "hai"),
        (3, "ba"),
        (4, "tư"),  # April is "tháng tư", in every dialect
        (5, "năm"),
        (6, "sáu"),
        (7, "bảy"),
        (8, "tám"),
        (9, "chín"),
        (10, "mười"),
        (11, "mười một"),
        (12, "mười hai"),
    ],
)
def test_read_date_months(month: int, word: str) -> None:
    assert read_date(1, month, 2020) == f"một tháng {word} năm hai không hai mươi"
    assert read_date(1, month, 2020, dialect=SOUTH) == f"một tháng {word} năm hai không hai mươi"


def test_read_date_days() -> None:
    assert read_date(21, 3, 2021).startswith("hai mươi mốt tháng ba")
    assert read_date(15, 3, 2021).startswith("mười lăm tháng ba")
    assert read_date(5, 3, 2005) == "năm tháng ba năm hai không không năm"
    assert read_date(24, 4, 2024) == "hai mươi bốn tháng tư năm hai không hai mươi bốn"
    assert read_date(24, 4, 2024, dialect=NORTH_TU) == (
        "hai mươi tư tháng tư năm hai không hai mươi tư"
    )


@pytest.mark.parametrize(
    ("d", "m", "y"), [(31, 2, 2021), (29, 2, 2023), (0, 1, 2021), (1, 13, 2021)]
)
def test_read_date_rejects_impossible_dates(d: int, m: int, y: int) -> None:
    with pytest.raises(UnreadableValue):
        read_date(d, m, y)


def test_read_date_leap_day() -> None:
    assert read_date(29, 2, 2024) == "hai mươi chín tháng hai năm hai không hai mươi bốn"


SEED_DATE = "ba mươi tháng một năm hai không hai mươi mốt"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # seed 000's formats
        ("10410000", "mười triệu bốn trăm mười nghìn"),
        ("1 2 3 4 5 6", "một hai ba bốn năm sáu"),
        ("0 9 8 7 6 5 4 3 2 1", "không chín tám bảy sáu năm bốn ba hai một"),
        ("#15", "mười lăm"),
        ("30/01/2021", SEED_DATE),
        ("2021-01-30", SEED_DATE),
        # neighbours of those formats
        ("30/1/2021", SEED_DATE),
        (" 30/01/2021 ", SEED_DATE),
        ("#0015", "mười lăm"),
        ("#1015", "một nghìn không trăm mười lăm"),
        ("0", "không"),
        ("7", "bảy"),
        ("1000001", "một triệu không trăm linh một"),
        ("0331111111", "không ba ba một một một một một một một"),  # seed's "sdt" sample
        ("007", "không không bảy"),
        ("1.500.000", "một triệu năm trăm nghìn"),
        ("1,500,000", "một triệu năm trăm nghìn"),
        ("1.500", "một nghìn năm trăm"),  # Vietnamese: fifteen hundred, not 1.5
        ("10.410.000", "mười triệu bốn trăm mười nghìn"),
        ("1000000000000000000", "một " + " ".join(["không"] * 18)),  # beyond triệu tỷ
        ("#1000000000000000000", "một " + " ".join(["không"] * 18)),
    ],
)
def test_read_value_classifies(raw: str, expected: str) -> None:
    assert read_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Nguyễn Văn A",
        "",
        "1.5",
        "1,5",
        "1.500,000",
        "1.50.000",
        "01.500",
        "-3",
        "#-3",
        "#",
        "1  2",
        "12 34",
        "31/02/2021",  # date-shaped but not a date: text
        "2021-02-30",
        "2021-13-01",
        "0999-01-01",
        "30/01/21",
        "１２３",  # fullwidth digits are not ASCII digits
        "٣٤",
        "Hợp đồng số 123",
        "{{x}}",
    ],
)
def test_read_value_leaves_text_unchanged(raw: str) -> None:
    assert read_value(raw) == raw


def test_read_value_south() -> None:
    assert read_value("1000001", dialect=SOUTH) == "một triệu không trăm lẻ một"
    assert read_value("30/01/2021", dialect=SOUTH) == SEED_DATE


SEED_TEMPLATE = (
    "Chào bạn {{customer_name}} vui lòng thanh toán khoản nợ {{due_amount}} trước ngày {{due_date}}"
)
SEED_SPOKEN = (
    "Chào bạn Nguyễn Văn A vui lòng thanh toán khoản nợ mười triệu bốn trăm mười nghìn "
    "trước ngày ba mươi tháng một năm hai không hai mươi mốt"
)


@pytest.mark.parametrize("due_date", ["30/01/2021", "2021-01-30"])
def test_render_template_seed_example_exactly(due_date: str) -> None:
    params = {"customer_name": "Nguyễn Văn A", "due_amount": "10410000", "due_date": due_date}
    assert render_template(SEED_TEMPLATE, params) == SEED_SPOKEN


def test_render_template_spaces_in_braces_and_int_amounts() -> None:
    template = "Nợ {{ due_amount }} đồng, mã {{code}}"
    assert render_template(template, {"due_amount": 10410000, "code": "#15"}) == (
        "Nợ mười triệu bốn trăm mười nghìn đồng, mã mười lăm"
    )


def test_render_template_missing_and_none_render_empty() -> None:
    assert render_template("A{{x}}B{{ y }}C", {"y": None}) == "ABC"


def test_render_template_floats_and_bools() -> None:
    assert render_template("{{a}}", {"a": 1500000.0}) == "một triệu năm trăm nghìn"
    # str(1.125) looks like a Vietnamese grouped 1125: a float must never be read that way
    assert render_template("{{a}}", {"a": 1.125}) == "1.125"
    assert render_template("{{a}}", {"a": float("nan")}) == "nan"
    assert render_template("{{a}}", {"a": True}) == "True"
    assert render_template("{{a}}", {"a": -5}) == "-5"


def test_render_template_does_not_expand_values() -> None:
    assert render_template("{{a}} {{b}}", {"a": "{{b}}", "b": "x"}) == "{{b}} x"


def test_render_template_keeps_text_without_placeholders() -> None:
    text = "Xin chào {{ }} {x} {{a b}}"
    assert render_template(text, {"a": "1"}) == text


def test_render_template_south() -> None:
    assert render_template("{{n}}", {"n": "1000"}, dialect=SOUTH) == "một ngàn"


def test_read_otp() -> None:
    once = "một hai ba bốn năm sáu"
    assert read_otp("123456") == f"{once}, {once}"
    assert read_otp("123456", repeat=1) == once
    assert read_otp("0 4 2", repeat=3) == "không bốn hai, không bốn hai, không bốn hai"


@pytest.mark.parametrize(("code", "repeat"), [("", 2), ("12a4", 2), ("1234", 0), ("1234", -1)])
def test_read_otp_rejects(code: str, repeat: int) -> None:
    with pytest.raises(UnreadableValue):
        read_otp(code, repeat)


# --- properties -------------------------------------------------------------------------------

numbers = st.integers(min_value=0, max_value=MAX_NUMBER)
small_numbers = st.integers(min_value=0, max_value=10**7)
dialects = st.sampled_from([NORTH, SOUTH, NORTH_TU, dataclasses.replace(SOUTH, four_as_tu=True)])
WORD = re.compile(r"[a-zàáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]+")


@given(numbers, dialects)
def test_every_number_reads_as_clean_words(n: int, dialect: Dialect) -> None:
    spoken = read_number(n, dialect=dialect)
    assert spoken == spoken.strip()
    assert "  " not in spoken
    assert all(WORD.fullmatch(w) for w in spoken.split(" "))
    assert unicodedata.is_normalized("NFC", spoken)


@given(numbers, dialects)
def test_final_one_after_twenty_is_mot_sac(n: int, dialect: Dialect) -> None:
    spoken = read_number(n, dialect=dialect)
    # "mươi một" never occurs; after "mươi" a 1 is always "mốt", a 5 always "lăm"
    assert "mươi một" not in spoken
    assert "mươi năm" not in spoken
    assert "mười năm" not in spoken
    if n % 100 > 20 and n % 10 == 1:
        assert spoken.endswith("mươi mốt")
    if n % 100 >= 10 and n % 10 == 5:
        assert spoken.endswith("lăm")


@given(numbers)
def test_zero_hundreds_are_spoken_inside_larger_numbers(n: int) -> None:
    low = n % 1000
    if n >= 1000 and 0 < low < 100:
        tail = read_number(low) if low >= 10 else f"linh {read_number(low)}"
        assert read_number(n).endswith(f" không trăm {tail}")


@given(st.lists(small_numbers, min_size=2, max_size=2, unique=True), dialects)
def test_reading_is_injective_on_pairs(pair: list[int], dialect: Dialect) -> None:
    a, b = pair
    assert read_number(a, dialect=dialect) != read_number(b, dialect=dialect)


@given(st.lists(numbers, min_size=2, max_size=2, unique=True))
def test_reading_is_injective_on_large_pairs(pair: list[int]) -> None:
    a, b = pair
    assert read_number(a) != read_number(b)


def test_reading_is_injective_on_a_dense_range() -> None:
    sample = [*range(0, 20_000), *range(999_000, 1_002_000), *range(10**9 - 500, 10**9 + 2000)]
    for dialect in (NORTH, SOUTH):
        readings = {read_number(n, dialect=dialect) for n in sample}
        assert len(readings) == len(sample)


@given(st.integers(min_value=1, max_value=MAX_NUMBER))
def test_amount_strings_agree_with_read_number(n: int) -> None:
    assert read_value(str(n)) == read_number(n)
    assert read_value(f"#{n}") == read_number(n)
    assert read_value(f"{n:,}") == read_number(n)
    assert read_value(f"{n:,}".replace(",", ".")) == read_number(n)


@given(st.dates(min_value=datetime.date(1000, 1, 1)))
def test_both_date_formats_agree(d: datetime.date) -> None:
    spoken = read_date(d.day, d.month, d.year)
    assert read_value(d.strftime("%d/%m/%Y")) == spoken
    assert read_value(d.isoformat()) == spoken
    assert " tháng " in spoken
    assert " năm " in spoken


@given(st.text())
def test_read_value_never_raises_and_text_is_unchanged_or_spoken(raw: str) -> None:
    spoken = read_value(raw)
    assert spoken == raw or not re.search(r"[0-9]", spoken)


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30))
def test_render_template_substitutes_read_value(value: str) -> None:
    assert render_template("<{{v}}>", {"v": value}) == f"<{read_value(value)}>"
