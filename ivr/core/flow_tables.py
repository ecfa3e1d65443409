"""The flow file's tables that are not destinations: the agents who take calls, the trunks
that carry calls out, and the rules of time groups."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from ivr.core.fields import PHONE, SKILL, Table
from ivr.core.timegroups import DayOfYear, TimeRule, parse_date, parse_days, parse_hours


class Agent(Table):
    """Someone who takes calls: their phone is a SIP URI the PBX calls (a fixed address),
    ``register`` for a softphone that registers to the bundled PBX with a generated password, or
    a number called through one of the flow's trunks (a mobile, a desk phone elsewhere)."""

    name: str = Field("", max_length=80, pattern=r'^[^\x00-\x1f<>"]*$',
                      description="shown as the caller id of calls the agent makes")
    email: str = Field("", pattern=r"^([^@\s]+@[^@\s]+)?$")
    phone: str = Field(pattern=PHONE)
    skills: dict[Annotated[str, Field(pattern=SKILL)], Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=dict)
    cost: float = Field(0.0, ge=0, description="per hour, for strategy = lowest-cost")
    weight: int = Field(1, ge=1, le=1000, description="for strategy = weighted-random")
    ready_at_start: bool = Field(False, description="logged in and ready when `ivr run` starts")
    trunk: str = Field("", pattern=r"^[A-Za-z0-9_\-]*$", description="with a phone number: the trunk")
    mobile: str = Field("", pattern=r"^(\+[1-9][0-9]{5,14})?$", description="E.164 number that gets pull "
                        "campaigns' SMS and whose replies are the agent's")

    @model_validator(mode="after")
    def _number_needs_trunk(self) -> Agent:
        if self.is_number != bool(self.trunk):
            raise ValueError('a phone number needs a trunk (trunk = "name"); a trunk needs a phone number')
        return self

    @property
    def is_number(self) -> bool:
        return self.phone[:1].isdigit() or self.phone.startswith("+")


class Trunk(Table):
    dial: str = Field(pattern=r"^[A-Za-z0-9_\-/@.:{}]+$",
                      description="dial string with {number}, e.g. PJSIP/{number}@provider")
    allow: tuple[Annotated[str, Field(pattern=r"^(\+?[0-9]*\*?|sip:\*)$")], ...] = Field(
        min_length=1, description="number prefixes ending in *, exact numbers, or sip:* for SIP URIs")
    timeout: int = Field(45, ge=1, le=600)

    @field_validator("dial")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if value.count("{number}") != 1:
            raise ValueError("must contain {number} once, e.g. PJSIP/{number}@provider")
        return value

    def allows(self, number: str) -> bool:
        for pattern in self.allow:
            if pattern == "sip:*":
                if number.startswith("sip:"):
                    return True
            elif pattern.endswith("*"):
                if number.startswith(pattern[:-1]) and not number.startswith("sip:"):
                    return True
            elif number == pattern:
                return True
        return False


class TimeGroupRule(Table):
    days: str = ""
    hours: str = ""
    dates: tuple[str, ...] = ()

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        if value:
            parse_days(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value:
            parse_hours(value)
        return value

    @field_validator("dates")
    @classmethod
    def _dates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_date(text)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TimeGroupRule:
        if not (self.days or self.hours or self.dates):
            raise ValueError("a rule needs days, hours or dates")
        return self

    def rule(self) -> TimeRule:
        start, end = parse_hours(self.hours) if self.hours else (None, None)
        dates: tuple[DayOfYear, ...] = tuple(parse_date(d) for d in self.dates)
        return TimeRule(parse_days(self.days) if self.days else None, start, end, dates)
