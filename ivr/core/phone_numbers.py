"""Checking the number a caller leaves for a callback, before anything dials it.

The number comes from outside (the caller's id, or digits typed on the keypad), so it is checked
with Google's libphonenumber metadata (the ``phonenumbers`` package) and kept in E.164 form, the
only form that reaches a dial string.

>>> check_number("600 11 12 22", "ES")
NumberCheck(number='+34600111222', refused='', country='ES')
>>> check_number("0034600111222", "ES").number
'+34600111222'
>>> check_number("+34 806 12 34 56", "ES")
NumberCheck(number='', refused='premium_rate', country='ES')
>>> check_number("+33612345678", "ES").refused
'country_not_allowed'
>>> check_number("+33612345678", "ES", ("ES", "FR")).number
'+33612345678'
>>> check_number("sip:100@pbx", "ES").refused
'not_a_number'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

Refused = Literal["not_a_number", "impossible", "invalid", "premium_rate", "country_not_allowed"]
"""Why a number is refused, checked in this order:

- ``not_a_number``: empty, letters (a SIP URI, an extension, a vanity number), or over 20 digits;
- ``impossible``: a length no number of its country has;
- ``invalid``: the right length but in no range its country assigns;
- ``premium_rate``: premium rate, or shared cost, both billed to the one who calls;
- ``country_not_allowed``: its country is not among the allowed ones.
"""

MAX_DIGITS = 20
_DIALLABLE = re.compile(r"\+?[0-9 ().\-/]+")
"""What people and caller ids write: digits, a leading +, spaces and the usual separators.
Letters are refused here because the library would read them as a keypad's (600ABC222 is valid)."""
_BILLED_TO_CALLER = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST})
"""Calling these back costs the contact center more than a call; shared-cost numbers (Spain's
901/902) are billed near premium rates and, like premium ones, pay their owner a share, so a
callback to one could be used to make the contact center pay someone."""


@dataclass(frozen=True)
class NumberCheck:
    number: str
    """E.164 when accepted, else ""."""
    refused: Refused | Literal[""]
    """"" when accepted."""
    country: str
    """The number's region code (ES, GB...), or "" when unknown."""


def check_number(raw: str, default_country: str,
                 allowed_countries: tuple[str, ...] = ()) -> NumberCheck:
    """The number in E.164 form, or why it is refused.

    ``default_country`` is the region of numbers written without an international prefix;
    ``allowed_countries`` are the regions that may be called back (empty: the default one only).
    """
    allowed = allowed_countries or (default_country,)
    for region in (default_country, *allowed):
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"callback numbers: {region!r} is not a region code such as 'ES'")
    digits = sum(ch.isdigit() for ch in raw)
    if not _DIALLABLE.fullmatch(raw) or digits > MAX_DIGITS:
        return NumberCheck("", "not_a_number", "")
    try:
        parsed = phonenumbers.parse(raw, default_country)
    except NumberParseException:
        return NumberCheck("", "not_a_number", "")
    country = phonenumbers.region_code_for_number(parsed) or ""
    refused = _refusal(parsed, country, allowed)
    if refused:
        return NumberCheck("", refused, country)
    return NumberCheck(phonenumbers.format_number(parsed, PhoneNumberFormat.E164), "", country)


def _refusal(parsed: phonenumbers.PhoneNumber, country: str, allowed: tuple[str, ...]) -> Refused | None:
    if not phonenumbers.is_possible_number(parsed):
        return "impossible"
    if not phonenumbers.is_valid_number(parsed):
        return "invalid"
    if phonenumbers.number_type(parsed) in _BILLED_TO_CALLER:
        return "premium_rate"
    if country not in allowed:
        return "country_not_allowed"
    return None


def readback(number: str) -> str:
    """The digits of an accepted number as its own country writes it, to read it back to the
    caller (Asterisk's ``digits:`` media).

    >>> readback("+34600111222")
    '600111222'
    >>> readback("+442079460000")
    '02079460000'
    """
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException as exc:
        raise ValueError(f"callback number {number!r} is not in E.164 form: {exc}") from exc
    return "".join(ch for ch in phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
                   if ch.isdigit())
