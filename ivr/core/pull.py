"""A pull campaign's words with its staff: the notification of a waiting call, the replies that
take it or send it to voicemail, and the answers to those replies. Pure functions; the SMS
gateway and the API only carry the texts.

Replies are ``<code> <word>`` in any order, case and spacing (``17 T``, ``t17``, ``#17 t``); the
code may be left out when one call is open for that person. Carriers act on their own keywords
(STOP, CANCEL, END, QUIT... to opt out; START, UNSTOP to opt in; HELP): those are never read as
commands, and a campaign may not choose them as its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, geocoder

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "UNSTOP", "SUBSCRIBE", "OPTIN"})
HELP = frozenset({"HELP", "INFO"})
CARRIER_WORDS = OPT_OUT | OPT_IN | HELP
WORD = re.compile(r"^[A-Za-z]{1,20}$")
_TOKENS = re.compile(r"[0-9]+|[^\W\d_]+")
_SEPARATORS = " \t\r\n#.,:;!?¡¿()-"

Action = Literal["take", "voicemail"]
CarrierKind = Literal["opt-out", "opt-in", "help"]
_CARRIER: tuple[tuple[CarrierKind, frozenset[str]], ...] = (
    ("opt-out", OPT_OUT), ("opt-in", OPT_IN), ("help", HELP))


@dataclass(frozen=True)
class Words:
    """A campaign's reply words, upper case."""

    take: tuple[str, ...] = ("T",)
    voicemail: tuple[str, ...] = ("V",)


@dataclass(frozen=True)
class Command:
    action: Action
    code: int | None
    """None: the sender's only open call."""


@dataclass(frozen=True)
class CarrierWord:
    kind: CarrierKind


@dataclass(frozen=True)
class Unreadable:
    why: str


Reply = Command | CarrierWord | Unreadable


def read_reply(text: str, words: Words) -> Reply:
    """What a staff member's reply asks.

    >>> read_reply(" 17 t ", Words())
    Command(action='take', code=17)
    >>> read_reply("V17", Words())
    Command(action='voicemail', code=17)
    >>> read_reply("yes", Words(take=("YES",), voicemail=("NO",)))
    Command(action='take', code=None)
    >>> read_reply("Stop", Words())
    CarrierWord(kind='opt-out')
    >>> read_reply("17 T please", Words())
    Unreadable(why='expected "<code> T" or "<code> V"')
    """
    tokens = _TOKENS.findall(text.upper())
    if not tokens or any(ch not in _SEPARATORS for ch in "".join(_TOKENS.split(text))):
        return Unreadable(_expected(words))
    joined = "".join(tokens)
    if len(tokens) == 1 or joined == "STOPALL":
        for kind, carrier in _CARRIER:
            if joined in carrier:
                return CarrierWord(kind)
    numbers = [t for t in tokens if t.isdigit()]
    names = [t for t in tokens if not t.isdigit()]
    if len(names) != 1 or len(numbers) > 1 or len(numbers[0] if numbers else "") > 9:
        return Unreadable(_expected(words))
    code = int(numbers[0]) if numbers else None
    if names[0] in words.take:
        return Command("take", code)
    if names[0] in words.voicemail:
        return Command("voicemail", code)
    return Unreadable(_expected(words))


def _expected(words: Words) -> str:
    return f'expected "<code> {words.take[0]}" or "<code> {words.voicemail[0]}"'


def same_number(sender: str, mobile: str) -> bool:
    """Whether an SMS sender is the staff member's mobile (E.164): gateways give the sender
    with or without its + or 00, or in national form.

    >>> [same_number(s, "+34600111222") for s in ("+34600111222", "0034600111222", "34600111222",
    ...                                           "600111222", "600111223", "")]
    [True, True, True, True, False, False]
    """
    digits = "".join(ch for ch in sender if ch.isdigit())
    if not digits or not mobile.startswith("+"):
        return False
    if sender.strip().startswith("+") or digits.startswith("00"):
        return "+" + digits.removeprefix("00") == mobile
    if "+" + digits == mobile:
        return True
    try:
        national = str(phonenumbers.parse(mobile, None).national_number)
    except NumberParseException:
        return False
    return digits.lstrip("0") == national


def location(number: str, country: str) -> str:
    """The region or city of a caller's number, from libphonenumber's offline geocoder ("" when
    unknown); ``country`` is the region of numbers written without their international prefix.

    >>> location("+34915550000", "")
    'Madrid'
    >>> location("600111222", "ES")
    'Spain'
    >>> location("anonymous", "ES")
    ''
    """
    try:
        parsed = phonenumbers.parse(number, country or None)
    except NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return str(geocoder.description_for_number(parsed, "en"))


def caller_name(variables: dict[str, str], caller_id_name: str) -> str:
    """The name to show: the CRM's (``name``, or ``first_name`` and ``last_name``), else the
    caller id name."""
    full = " ".join(v for v in (variables.get("first_name", ""), variables.get("last_name", "")) if v)
    return (variables.get("name") or full or caller_id_name).strip()[:40]


@dataclass(frozen=True)
class WaitingPull:
    """What a notification says of a waiting call."""

    code: int
    campaign: str
    caller: str
    name: str
    location: str

    def who(self) -> str:
        """
        >>> WaitingPull(17, "sales", "+34600111222", "Ana", "Spain").who()
        '+34600111222 (Ana, Spain)'
        """
        about = ", ".join(v for v in (self.name, self.location) if v)
        return f"{self.caller or 'unknown number'}" + (f" ({about})" if about else "")


def notification(call: WaitingPull, words: Words, again: bool = False) -> str:
    """
    >>> notification(WaitingPull(17, "sales", "+34600111222", "Ana", "Madrid"), Words())
    'Call 17 waiting in sales: +34600111222 (Ana, Madrid). Reply 17 T to take it, 17 V for voicemail.'
    """
    head = f"Call {call.code} is open again in {call.campaign}" if again else \
        f"Call {call.code} waiting in {call.campaign}"
    return (f"{head}: {call.who()}. Reply {call.code} {words.take[0]} to take it, "
            f"{call.code} {words.voicemail[0]} for voicemail.")


def taken(code: int) -> str:
    return f"Call {code} is yours: ringing your phone."


def sent_to_voicemail(code: int) -> str:
    return f"Call {code} sent to voicemail."


def no_voicemail(code: int | None) -> str:
    call = f"Call {code}" if code is not None else "A call"
    return f"{call} cannot go to voicemail: this campaign has none."


def already_taken(code: int, by: str, action: str) -> str:
    what = "sent to voicemail" if action == "voicemail" else "taken"
    return f"Call {code} was already {what} by {by}."


def open_again(code: int) -> str:
    return f"Call {code} is open again: reply again to take it."


def hung_up(code: int) -> str:
    return f"Call {code}: the caller hung up."


def not_waiting(code: int, why: str) -> str:
    return f"Call {code} is no longer waiting ({why})."


def unknown(code: int | None) -> str:
    return f"No call {code} is open for you." if code is not None else "No call is open for you."


def which(codes: list[int], words: Words) -> str:
    listed = ", ".join(str(code) for code in codes)
    return f"Calls {listed} are open: reply with the code, e.g. {codes[0]} {words.take[0]}."


def help_text(words: Words) -> str:
    return (f"Reply <code> {words.take[0]} to take a waiting call, <code> {words.voicemail[0]} to send it "
            f"to voicemail. STOP: no more notifications.")


OPTED_OUT = "You will get no more call notifications. Reply START to get them again."
OPTED_IN = "Call notifications are on again."
