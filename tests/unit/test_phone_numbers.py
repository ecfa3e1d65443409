"""Callback numbers: what is accepted, in which form, and why the rest is refused."""

from __future__ import annotations

import pytest

from ivr.core.phone_numbers import NumberCheck, check_number, readback


@pytest.mark.parametrize(("raw", "allowed", "expected"), [
    # Spanish mobile, as a caller id or typed in every usual way
    ("+34600111222", (), NumberCheck("+34600111222", "", "ES")),
    ("600111222", (), NumberCheck("+34600111222", "", "ES")),
    ("0034600111222", (), NumberCheck("+34600111222", "", "ES")),
    ("34 600 11 12 22", (), NumberCheck("+34600111222", "", "ES")),
    ("+34 (600) 11-12-22", (), NumberCheck("+34600111222", "", "ES")),
    # Spanish landline
    ("912 34 56 78", (), NumberCheck("+34912345678", "", "ES")),
    # a UK landline and mobile, when the UK is allowed; refused when it is not
    ("+44 20 7946 0000", ("ES", "GB"), NumberCheck("+442079460000", "", "GB")),
    ("00447400123456", ("ES", "GB"), NumberCheck("+447400123456", "", "GB")),
    ("+44 20 7946 0000", (), NumberCheck("", "country_not_allowed", "GB")),
    ("+33612345678", ("ES", "PT"), NumberCheck("", "country_not_allowed", "FR")),
    # allowed countries name them all: the default one is not added
    ("600111222", ("GB",), NumberCheck("", "country_not_allowed", "ES")),
    # premium rate, and shared cost billed like it
    ("803123456", (), NumberCheck("", "premium_rate", "ES")),
    ("+34806123456", (), NumberCheck("", "premium_rate", "ES")),
    ("807 12 34 56", (), NumberCheck("", "premium_rate", "ES")),
    ("902123456", (), NumberCheck("", "premium_rate", "ES")),
    # free phone is fine
    ("900123456", (), NumberCheck("+34900123456", "", "ES")),
    # impossible lengths
    ("60011122", (), NumberCheck("", "impossible", "ES")),
    ("6001112223", (), NumberCheck("", "impossible", "ES")),
    ("555", (), NumberCheck("", "impossible", "ES")),
    # possible, but in no assigned range
    ("+34500000000", (), NumberCheck("", "invalid", "ES")),
    ("+441632960000", ("GB",), NumberCheck("", "invalid", "")),
    # garbage
    ("", (), NumberCheck("", "not_a_number", "")),
    ("   ", (), NumberCheck("", "not_a_number", "")),
    ("anonymous", (), NumberCheck("", "not_a_number", "")),
    ("sip:600111222@pbx.example", (), NumberCheck("", "not_a_number", "")),
    ("600ABC222", (), NumberCheck("", "not_a_number", "")),
    ("600111222#", (), NumberCheck("", "not_a_number", "")),
    ("+34600111222;ext=1", (), NumberCheck("", "not_a_number", "")),
    ("1" * 21, (), NumberCheck("", "not_a_number", "")),
    ("+", (), NumberCheck("", "not_a_number", "")),
])
def test_callback_numbers(raw: str, allowed: tuple[str, ...], expected: NumberCheck) -> None:
    assert check_number(raw, "ES", allowed) == expected


def test_a_number_without_prefix_belongs_to_the_default_country() -> None:
    assert check_number("020 7946 0000", "GB") == NumberCheck("+442079460000", "", "GB")


@pytest.mark.parametrize("region", ["es", "XX", ""])
def test_an_unknown_region_is_a_configuration_error_that_names_it(region: str) -> None:
    with pytest.raises(ValueError, match=f"callback numbers: '{region}' is not a region code"):
        check_number("600111222", "ES", (region,))


@pytest.mark.parametrize(("number", "digits"), [
    ("+34600111222", "600111222"),
    ("+34912345678", "912345678"),
    ("+442079460000", "02079460000"),
    ("+447400123456", "07400123456"),
])
def test_the_number_is_read_back_as_its_country_writes_it(number: str, digits: str) -> None:
    assert readback(number) == digits


def test_reading_back_a_number_not_in_e164_form_names_it() -> None:
    with pytest.raises(ValueError, match=r"callback number '600111222' is not in E\.164 form"):
        readback("600111222")
