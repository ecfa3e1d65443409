"""A call through a flow, event by event: the commands the core gives back (no Asterisk)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest

from ivr.core.call_flow import MAX_HOPS, CallFlow
from ivr.core.commands import (
    Answer,
    AskCrm,
    CancelTimer,
    Command,
    ContinueInDialplan,
    Finished,
    Hangup,
    Play,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
    Warn,
)
from ivr.core.crm_answer import Answer as CrmAnswer
from ivr.core.crm_answer import Identified, Interaction, NotIdentified, Routed, Unavailable
from ivr.core.digits import TIMER
from ivr.core.events import (
    CallStarted,
    CrmAnswered,
    DigitPressed,
    Event,
    HungUp,
    PlaybackFinished,
    Resumed,
    TimerFired,
)
from ivr.core.facts import CallFacts
from ivr.core.flow import Flow
from ivr.core.identify import HOLD_TIMER
from ivr.flow_file import load_flow

NOW = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)  # a Wednesday, 11:00 in Madrid
ENVIRON = {"CRM_AUTHORIZATION": "Bearer secret"}

PROMPT = ("sound:ivr/enter-customer-id",)
NO_ENTRY = ("sound:ivr/no-entry", *PROMPT)
INVALID = ("sound:ivr/invalid-entry", *PROMPT)
MAIN_MENU = ("sound:ivr/main-menu",)
READ_BACK = ("sound:ivr/you-entered", "digits:1234", "sound:ivr/to-confirm-press-1")

CUSTOMER: dict[str, Any] = {
    "id": 1,
    "prompt": list(PROMPT),
    "expected_length": 4,
    "attempts": 3,
    "timeout": 5,
    "inter_digit_timeout": 3,
    "invalid_prompt": ["sound:ivr/invalid-entry"],
    "no_input_prompt": ["sound:ivr/no-entry"],
    "on_identified": "campaign:sales",
    "on_not_identified": "menu:main",
}
CRM: dict[str, Any] = {
    "interaction": "destination",
    "url": "https://crm.example.com/identify",
    "user_agent": "Acme IVR",
    "deadline": 2.5,
    "authorization_env": "CRM_AUTHORIZATION",
    "send_caller": True,
    "breaker_failures": 3,
    "breaker_cooldown": 10,
    "hold_music": "crm",
    "hold_music_after": 0,
}

NODES = """
[entry]
"100" = "identification:customer"
"200" = "menu:main"
"300" = "time:office"
"301" = "time:night"
"400" = "voicemail:sales"
"500" = "dialplan:operator"
"600" = "external:mobile"
"700" = "hangup:busy"
"701" = "hangup:full"
"900" = "message:sorry"
default = "message:welcome"

[campaign.sales]
id = 11

[campaign.support]
id = 12

[menu.main]
id = 3
prompt = ["sound:ivr/main-menu"]
timeout = 4
attempts = 2
invalid_prompt = ["sound:ivr/invalid-option"]
timeout_prompt = ["sound:ivr/no-option"]
on_failure = "hangup"

[menu.main.options]
"1" = "campaign:sales"
"2" = "campaign:support"
"9" = "hangup:busy"

[hangup.busy]
id = 5
prompt = ["sound:ivr/all-busy"]
cause = "busy"

[hangup.full]
cause = "congestion"

[message.welcome]
prompt = ["sound:ivr/welcome"]
then = "menu:main"

[message.sorry]
prompt = ["sound:ivr/sorry"]

[message.closed]
prompt = ["sound:ivr/closed"]

# Office hours in Madrid: 09:00-18:00 local time (UTC+1 in winter, UTC+2 in summer).
[time.office]
id = 2
timezone = "Europe/Madrid"
open = ["office"]
closed = ["holidays"]
on_match = "menu:main"
otherwise = "message:closed"

[time.night]
timezone = "Europe/Madrid"
open = ["night"]
on_match = "message:closed"
otherwise = "menu:main"

[[timegroup.office]]
days = "mon-fri"
hours = "09:00-18:00"

[[timegroup.holidays]]
dates = ["12-25", "2026-04-03"]

[[timegroup.night]]
hours = "22:00-06:00"

[voicemail.sales]
box = "100@sales"

[dialplan.operator]
context = "from-ivr"
exten = "200"
priority = 2

[external.mobile]
trunk = "provider"
number = "+34600111222"

[trunk.provider]
dial = "PJSIP/{number}@provider"
allow = ["+34*"]
timeout = 30
"""


def flow_file(tmp_path: Path, text: str) -> Flow:
    path = tmp_path / "flows.toml"
    path.write_text(text, encoding="utf-8")
    return load_flow(path, ENVIRON)


def customer_flow(tmp_path: Path, **fields: Any) -> Flow:
    """NODES, plus ``[identification.customer]`` with CUSTOMER's fields, changed by ``fields``."""
    body = "\n".join(f"{key} = {json.dumps(value)}" for key, value in {**CUSTOMER, **fields}.items())
    return flow_file(tmp_path, f"[identification.customer]\n{body}\n{NODES}")


class Call:
    """Sends events to a CallFlow, remembering the last prompt it played."""

    def __init__(self, flow: Flow, now: datetime = NOW) -> None:
        self.flow = CallFlow("c1", flow, lambda: now)
        self.playing = ""

    @property
    def facts(self) -> CallFacts:
        return self.flow.facts

    def send(self, *events: Event) -> list[Command]:
        commands: list[Command] = []
        for event in events:
            commands += self.flow.handle(event)
        for command in commands:
            if isinstance(command, Play):
                self.playing = command.playback_id
        return commands

    def start(self, exten: str = "100", caller: str = "600111222") -> list[Command]:
        return self.send(CallStarted(caller, exten, "flows"))

    def press(self, keys: str) -> list[Command]:
        return self.send(*(DigitPressed(key) for key in keys))

    def prompt_ends(self) -> list[Command]:
        return self.send(PlaybackFinished(self.playing))

    def times_out(self) -> list[Command]:
        return self.send(TimerFired(TIMER))

    def crm_answers(self, answer: CrmAnswer, seconds: float = 0.4) -> list[Command]:
        return self.send(CrmAnswered(answer, seconds))


def call_to(tmp_path: Path, exten: str = "100", now: datetime = NOW, **fields: Any) -> Call:
    """A call to ``exten``, started, with its first prompt played to the end."""
    call = Call(customer_flow(tmp_path, **fields), now)
    call.start(exten)
    call.prompt_ends()
    return call


def routed(result: str, destination: str, kind: str, node_id: str = "") -> list[Command]:
    """What identification sets when it leaves for ``destination``."""
    return [CancelTimer(TIMER), SetVariable("IVR_RESULT", result), SetVariable("IVR_DESTINATION", destination),
            SetVariable("IVR_DESTINATION_TYPE", kind), SetVariable("IVR_DESTINATION_ID", node_id)]


def campaign(call: Call, name: str) -> list[Command]:
    return [SetVariable("__IVR_CAMPAIGN", name), ContinueInDialplan("ivr-campaign", name, 1),
            Finished(f"sent to campaign {name}", call.facts)]


def identified_as(call: Call, customer: str) -> list[Command]:
    """Interaction none: the entry is the customer, off to on_identified (campaign:sales)."""
    return [CancelTimer(TIMER), SetVariable("__IVR_CUSTOMER_ID", customer),
            *routed("identified", "campaign:sales", "1", "11"), *campaign(call, "sales")]


# Call start


def test_call_start_answers_sets_the_entry_and_plays_the_prompt(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("100") == [Answer(), SetVariable("IVR_ENTRY", "identification:customer"),
                                 Play("c1-1", PROMPT)]
    assert call.facts.nodes == ["identification:customer"]


def test_a_number_without_its_own_entry_takes_the_default(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("555") == [Answer(), SetVariable("IVR_ENTRY", "message:welcome"),
                                 Play("c1-1", ("sound:ivr/welcome",))]
    assert call.prompt_ends() == [Play("c1-2", MAIN_MENU)]
    assert call.facts.nodes == ["message:welcome", "menu:main"]


def test_a_number_with_no_entry_is_refused_unanswered(tmp_path: Path) -> None:
    flow = flow_file(tmp_path, '[entry]\n"100" = "hangup"\n')
    call = Call(flow)

    assert call.start("555") == [Warn(f"no entry node for number '555' in {tmp_path / 'flows.toml'}"),
                                 Hangup("unallocated"), Finished("no entry node for '555'", call.facts)]
    assert call.press("1") == []


def test_a_second_call_start_is_ignored(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start("100")

    assert call.start("200") == []


# Identification: collecting the entry (expected_length 4, attempts 3, interaction none)


def test_exactly_the_expected_length_ends_the_entry_without_terminator(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start()

    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]
    assert call.press("123") == [StartTimer(TIMER, 3.0)] * 3
    assert call.press("4") == identified_as(call, "1234")
    assert call.facts.entries == ["1234"]
    assert call.facts.customer_id == "1234"
    assert call.facts.nodes == ["identification:customer", "campaign:sales"]


def test_the_terminator_alone_is_no_input(tmp_path: Path) -> None:
    call = call_to(tmp_path)

    assert call.press("#") == [CancelTimer(TIMER), Play("c1-2", NO_ENTRY)]
    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]
    assert call.facts.entries == [""]
    assert call.facts.notes == []


def test_too_short_is_invalid(tmp_path: Path) -> None:
    call = call_to(tmp_path)

    assert call.press("12#") == [StartTimer(TIMER, 3.0), StartTimer(TIMER, 3.0),
                                 CancelTimer(TIMER), Play("c1-2", INVALID)]
    call.prompt_ends()
    assert call.press("4321") == [StartTimer(TIMER, 3.0)] * 3 + identified_as(call, "4321")
    assert call.facts.entries == ["12", "4321"]


def test_too_long_the_entry_ends_at_the_length_and_the_next_key_is_ignored_during_the_lookup(
        tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    commands = call.press("1234")

    assert any(isinstance(c, AskCrm) and c.customer_id == "1234" for c in commands)
    assert call.press("5") == []
    assert call.crm_answers(Routed(1, 12)) == [
        StopMoh(), *routed("identified", "campaign:support", "1", "12"), *campaign(call, "support")]
    assert call.facts.entries == ["1234"]


def test_too_long_the_next_key_is_ignored_once_routed(tmp_path: Path) -> None:
    call = call_to(tmp_path)

    assert call.press("12345")[-1] == Finished("sent to campaign sales", call.facts)
    assert call.facts.customer_id == "1234"


def test_too_long_the_next_key_belongs_to_the_next_node(tmp_path: Path) -> None:
    """Keys typed ahead are not thrown away: a menu after the entry takes the fifth key as its choice."""
    call = call_to(tmp_path, on_identified="menu:main")

    assert call.press("12341") == [
        StartTimer(TIMER, 3.0), StartTimer(TIMER, 3.0), StartTimer(TIMER, 3.0),
        CancelTimer(TIMER), SetVariable("__IVR_CUSTOMER_ID", "1234"),
        *routed("identified", "menu:main", "3", "3"), Play("c1-2", MAIN_MENU),
        StopPlayback("c1-2"), CancelTimer(TIMER), CancelTimer(TIMER), *campaign(call, "sales")]


def test_star_counts_as_a_key_but_makes_the_entry_invalid(tmp_path: Path) -> None:
    """With "#" as terminator, "*" is a key: "12*4" is four keys, ends the entry, and is refused."""
    call = call_to(tmp_path, attempts=2)

    assert call.press("12*4") == [StartTimer(TIMER, 3.0)] * 3 + [CancelTimer(TIMER), Play("c1-2", INVALID)]
    call.prompt_ends()
    assert call.press("*#")[-1] == Play("c1-3", MAIN_MENU)
    assert call.facts.entries == ["12*4", "*"]
    assert call.facts.notes == ["identification customer: a key other than 0-9 in the entry on the last of 2 attempt(s)"]


def test_star_as_terminator_makes_hash_a_key(tmp_path: Path) -> None:
    call = call_to(tmp_path, terminator="*")

    assert call.press("1*") == [StartTimer(TIMER, 3.0), CancelTimer(TIMER), Play("c1-2", INVALID)]
    call.prompt_ends()
    assert call.press("12#4")[-1] == Play("c1-3", INVALID)
    call.prompt_ends()
    assert call.press("1234")[-1] == Finished("sent to campaign sales", call.facts)
    assert call.facts.entries == ["1", "12#4", "1234"]


def test_no_input_when_the_first_digit_clock_runs_out(tmp_path: Path) -> None:
    call = call_to(tmp_path)

    assert call.times_out() == [CancelTimer(TIMER), Play("c1-2", NO_ENTRY)]
    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]


def test_slow_input_is_invalid(tmp_path: Path) -> None:
    call = call_to(tmp_path)
    call.press("12")

    assert call.times_out() == [CancelTimer(TIMER), Play("c1-2", INVALID)]
    assert call.facts.entries == ["12"]


def test_digits_during_the_prompt_stop_it_and_are_kept(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start()

    assert call.press("1") == [StopPlayback("c1-1"), StartTimer(TIMER, 3.0)]
    assert call.send(PlaybackFinished("c1-1")) == []  # the stopped prompt: no first-digit clock now
    assert call.press("234") == [StartTimer(TIMER, 3.0)] * 2 + identified_as(call, "1234")


def test_the_terminator_during_the_prompt_is_no_input(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start()

    assert call.press("#") == [StopPlayback("c1-1"), CancelTimer(TIMER), Play("c1-2", NO_ENTRY)]


def test_after_the_last_attempt_the_call_is_not_identified(tmp_path: Path) -> None:
    call = call_to(tmp_path)
    call.times_out()
    call.prompt_ends()
    call.press("12#")
    call.prompt_ends()

    assert call.press("1#") == [
        StartTimer(TIMER, 3.0), CancelTimer(TIMER),
        *routed("not-identified", "menu:main", "3", "3"), Play("c1-4", MAIN_MENU)]
    assert call.facts.entries == ["", "12", "1"]
    assert call.facts.customer_id == ""
    assert call.facts.notes == [
        "identification customer: 1 digit(s) entered, 4 expected on the last of 3 attempt(s)"]
    assert call.facts.nodes == ["identification:customer", "menu:main"]


def test_one_attempt_only(tmp_path: Path) -> None:
    call = call_to(tmp_path, attempts=1, on_not_identified="message:sorry")

    assert call.times_out() == [CancelTimer(TIMER), *routed("not-identified", "message:sorry", "message"),
                                Play("c1-2", ("sound:ivr/sorry",))]
    assert call.facts.notes == ["identification customer: no input on the last of 1 attempt(s)"]


@pytest.mark.parametrize("keys", ["1#", "987654#", "123456789"])
def test_any_length_when_no_length_is_expected(tmp_path: Path, keys: str) -> None:
    call = call_to(tmp_path, expected_length=0, max_length=9)

    assert call.press(keys)[-1] == Finished("sent to campaign sales", call.facts)
    assert call.facts.customer_id == keys.rstrip("#")


def test_any_length_ended_by_the_clock(tmp_path: Path) -> None:
    call = call_to(tmp_path, expected_length=0)
    call.press("42")

    assert call.times_out() == identified_as(call, "42")


def test_any_length_still_needs_a_key(tmp_path: Path) -> None:
    call = call_to(tmp_path, expected_length=0)

    assert call.press("#") == [CancelTimer(TIMER), Play("c1-2", NO_ENTRY)]


# Identification: read-back (confirm = true)


def test_read_back_then_1_confirms(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True)

    assert call.press("1234")[-2:] == [CancelTimer(TIMER), Play("c1-2", READ_BACK)]
    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]
    assert call.press("1") == identified_as(call, "1234")


def test_read_back_can_be_confirmed_while_it_plays(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True)
    call.press("1234")

    assert call.press("1")[:3] == [StopPlayback("c1-2"), CancelTimer(TIMER),
                                   SetVariable("__IVR_CUSTOMER_ID", "1234")]


def test_read_back_refused_uses_an_attempt(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True)
    call.press("1234")
    call.prompt_ends()

    assert call.press("2") == [CancelTimer(TIMER), Play("c1-3", PROMPT)]
    call.prompt_ends()
    call.press("5678")
    call.prompt_ends()
    assert call.press("1") == identified_as(call, "5678")
    assert call.facts.entries == ["1234", "5678"]


def test_read_back_not_answered_uses_an_attempt(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True)
    call.press("1234")
    call.prompt_ends()

    assert call.times_out() == [CancelTimer(TIMER), Play("c1-3", PROMPT)]


def test_the_terminator_during_the_read_back_is_ignored(tmp_path: Path) -> None:
    """Callers used to ending an entry with # press it again after the last digit."""
    call = call_to(tmp_path, confirm=True)
    call.press("1234")

    assert call.press("#") == []
    call.prompt_ends()
    assert call.press("#") == []
    assert call.press("1") == identified_as(call, "1234")


def test_read_back_refused_on_the_last_attempt(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True, attempts=1)
    call.press("1234")
    call.prompt_ends()

    assert call.press("*") == [CancelTimer(TIMER), *routed("not-identified", "menu:main", "3", "3"),
                               Play("c1-3", MAIN_MENU)]
    assert call.facts.notes == ["identification customer: read-back refused with '*' on the last of 1 attempt(s)"]


# Identification: asking the CRM


def test_the_crm_is_asked_with_the_node_settings_while_music_plays(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)

    assert call.press("1234")[-4:] == [
        CancelTimer(TIMER),
        AskCrm("customer", "https://crm.example.com/identify", "1234", Interaction.DESTINATION, "Acme IVR",
               2.5, "CRM_AUTHORIZATION", (("callerId", "600111222"), ("did", "100")), (3, 10.0)),
        SetVariable("__IVR_CUSTOMER_ID", "1234"),
        StartMoh("crm"),
    ]


def test_the_hold_music_waits_a_moment_for_the_crm(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "hold_music_after": 0.5})

    assert call.press("1234")[-1] == StartTimer(HOLD_TIMER, 0.5)
    assert call.send(TimerFired(HOLD_TIMER)) == [StartMoh("crm")]
    assert call.crm_answers(Routed(1, 11))[0] == StopMoh()


def test_a_crm_answering_within_the_moment_is_heard_without_music(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "hold_music_after": 0.5})
    call.press("1234")

    assert call.crm_answers(Routed(1, 11))[:2] == [CancelTimer(HOLD_TIMER), CancelTimer(TIMER)]
    assert call.send(TimerFired(HOLD_TIMER)) == []


def test_resumed_before_the_hold_music_starts_it_once(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "hold_music_after": 0.5})
    call.press("1234")

    assert call.send(Resumed()) == [StartMoh("crm")]
    assert call.send(TimerFired(HOLD_TIMER)) == []


def test_the_crm_gets_the_caller_only_when_configured(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "send_caller": False, "authorization_env": ""})
    [ask] = [c for c in call.press("1234") if isinstance(c, AskCrm)]

    assert ask.extras == ()
    assert ask.authorization_env == ""


def test_a_hold_prompt_plays_before_the_music(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM, hold_prompt=["sound:ivr/one-moment"])

    assert call.press("1234")[-1] == Play("c1-2", ("sound:ivr/one-moment",))
    assert call.prompt_ends() == [StartMoh("crm")]
    assert call.crm_answers(Routed(1, 11))[:2] == [StopMoh(), CancelTimer(TIMER)]


def test_an_answer_during_the_hold_prompt_stops_it(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM, hold_prompt=["sound:ivr/one-moment"])
    call.press("1234")

    assert call.crm_answers(Routed(1, 11)) == [
        StopPlayback("c1-2"), *routed("identified", "campaign:sales", "1", "11"), *campaign(call, "sales")]
    assert call.send(PlaybackFinished("c1-2")) == []


def test_true_false_identified(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "interaction": "true-false"})
    [ask] = [c for c in call.press("1234") if isinstance(c, AskCrm)]

    assert ask.interaction is Interaction.TRUE_FALSE
    assert call.crm_answers(Identified(), 0.25) == [
        StopMoh(), *routed("identified", "campaign:sales", "1", "11"), *campaign(call, "sales")]
    assert (call.facts.crm_outcome, call.facts.crm_reason, call.facts.crm_seconds) == ("identified", "", 0.25)


def test_true_false_not_identified(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "interaction": "true-false"})
    call.press("1234")

    assert call.crm_answers(NotIdentified()) == [
        StopMoh(), *routed("not-identified", "menu:main", "3", "3"), Play("c1-2", MAIN_MENU)]
    assert call.facts.crm_outcome == "not-identified"
    assert call.facts.customer_id == "1234"


def test_routed_to_a_configured_campaign(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.crm_answers(Routed(1, 12)) == [
        StopMoh(), *routed("identified", "campaign:support", "1", "12"), *campaign(call, "support")]
    assert call.facts.crm_outcome == "routed 1,12"
    assert call.facts.destination == "campaign:support"


def test_routed_to_a_configured_menu(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.crm_answers(Routed(3, 3)) == [
        StopMoh(), *routed("identified", "menu:main", "3", "3"), Play("c1-2", MAIN_MENU)]


@pytest.mark.parametrize("answer", [Routed(1, 99), Routed(1, 3), Routed(4, 1)],
                         ids=["unknown id", "id of another kind", "unknown kind"])
def test_routed_to_a_destination_not_configured_goes_to_on_unavailable(
        tmp_path: Path, answer: Routed) -> None:
    call = call_to(tmp_path, **CRM, on_unavailable="message:sorry")
    call.press("1234")
    reason = f"destination {answer.type_code},{answer.destination_id} is not configured"

    assert call.crm_answers(answer) == [
        StopMoh(), Warn(f"identification customer: CRM answer refused: {reason}"),
        SetVariable("IVR_CRM_REASON", reason),
        *routed("unavailable", "message:sorry", "message"), Play("c1-2", ("sound:ivr/sorry",))]
    assert (call.facts.crm_outcome, call.facts.crm_reason) == ("unavailable", reason)


def test_on_unavailable_defaults_to_on_not_identified(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.crm_answers(Routed(1, 99))[-6:] == [
        *routed("unavailable", "menu:main", "3", "3"), Play("c1-2", MAIN_MENU)]


def test_crm_unavailable(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM, on_unavailable="message:sorry")
    call.press("1234")

    assert call.crm_answers(Unavailable("no answer within 2.5 s"), 2.5) == [
        StopMoh(), Warn("identification customer: CRM unavailable: no answer within 2.5 s"),
        SetVariable("IVR_CRM_REASON", "no answer within 2.5 s"),
        *routed("unavailable", "message:sorry", "message"), Play("c1-2", ("sound:ivr/sorry",))]
    facts = call.facts
    assert (facts.crm_outcome, facts.crm_reason, facts.crm_seconds) == ("unavailable", "no answer within 2.5 s", 2.5)


def test_crm_variables_go_to_the_channel_and_the_record(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.crm_answers(Routed(1, 11, (("name", "Ana"), ("tier", "gold"))))[:3] == [
        StopMoh(), SetVariable("__IVR_CRM_NAME", "Ana"), SetVariable("__IVR_CRM_TIER", "gold")]
    assert call.facts.variables == {"name": "Ana", "tier": "gold"}


def test_crm_variables_are_kept_when_not_identified(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "interaction": "true-false"})
    call.press("1234")
    call.crm_answers(NotIdentified((("reason", "unknown customer"),)))

    assert call.facts.variables == {"reason": "unknown customer"}


def test_digits_and_timers_are_ignored_during_the_lookup(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.press("1#") == []
    assert call.times_out() == []


def test_the_caller_hangs_up_during_the_lookup(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.send(HungUp("normal")) == [Finished("caller hung up (normal)", call.facts)]
    assert call.facts.crm_outcome == "cancelled"
    assert call.crm_answers(Routed(1, 11)) == []


@pytest.mark.parametrize("exten", ["100", "200", "555", "700"])
def test_a_hang_up_at_any_time_finishes_the_call(tmp_path: Path, exten: str) -> None:
    call = Call(customer_flow(tmp_path))
    call.start(exten)

    assert call.send(HungUp("busy")) == [Finished("caller hung up (busy)", call.facts)]
    assert call.prompt_ends() == []
    assert call.press("1") == []
    assert call.send(HungUp("normal")) == []


# Resumed: the event connection came back, events may have been lost


def test_resumed_before_any_digit_plays_the_prompt_again(tmp_path: Path) -> None:
    call = call_to(tmp_path)

    assert call.send(Resumed()) == [CancelTimer(TIMER), Play("c1-2", PROMPT)]
    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]
    assert call.press("1234")[-1] == Finished("sent to campaign sales", call.facts)


def test_resumed_during_the_prompt_plays_it_from_the_start(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start()

    assert call.send(Resumed()) == [CancelTimer(TIMER), StopPlayback("c1-1"), Play("c1-2", PROMPT)]


def test_resumed_after_some_digits_restarts_the_clock(tmp_path: Path) -> None:
    call = call_to(tmp_path)
    call.press("12")

    assert call.send(Resumed()) == [StartTimer(TIMER, 3.0)]
    assert call.press("34")[-1] == Finished("sent to campaign sales", call.facts)


def test_resumed_during_the_read_back_reads_it_again(tmp_path: Path) -> None:
    call = call_to(tmp_path, confirm=True)
    call.press("1234")

    assert call.send(Resumed()) == [CancelTimer(TIMER), StopPlayback("c1-2"), Play("c1-3", READ_BACK)]


def test_resumed_during_the_lookup_does_not_ask_again(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM)
    call.press("1234")

    assert call.send(Resumed()) == [StartMoh("crm")]
    assert call.crm_answers(Routed(1, 11))[0] == StopMoh()


def test_resumed_during_the_hold_prompt_waits_for_it(tmp_path: Path) -> None:
    call = call_to(tmp_path, **CRM, hold_prompt=["sound:ivr/one-moment"])
    call.press("1234")

    assert call.send(Resumed()) == []
    assert call.prompt_ends() == [StartMoh("crm")]


def test_resumed_in_a_menu_offers_it_again(tmp_path: Path) -> None:
    call = call_to(tmp_path, "200")

    assert call.send(Resumed()) == [CancelTimer(TIMER), Play("c1-2", MAIN_MENU)]


def test_resumed_in_a_message_plays_it_again(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start("900")

    assert call.send(Resumed()) == [StopPlayback("c1-1"), Play("c1-2", ("sound:ivr/sorry",))]


def test_resumed_before_the_call_started_does_nothing(tmp_path: Path) -> None:
    assert Call(customer_flow(tmp_path)).send(Resumed()) == []


# Menu (timeout 4, attempts 2)


def test_menu_key_goes_to_its_destination(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("200") == [Answer(), SetVariable("IVR_ENTRY", "menu:main"), Play("c1-1", MAIN_MENU)]
    assert call.prompt_ends() == [StartTimer(TIMER, 4.0)]
    assert call.press("2") == [CancelTimer(TIMER), CancelTimer(TIMER), *campaign(call, "support")]
    assert call.facts.entries == ["2"]
    assert call.facts.nodes == ["menu:main", "campaign:support"]


def test_menu_invalid_key(tmp_path: Path) -> None:
    call = call_to(tmp_path, "200")

    assert call.press("7") == [CancelTimer(TIMER), Play("c1-2", ("sound:ivr/invalid-option", *MAIN_MENU))]
    assert call.prompt_ends() == [StartTimer(TIMER, 4.0)]
    assert call.press("1")[-1] == Finished("sent to campaign sales", call.facts)


def test_menu_timeout(tmp_path: Path) -> None:
    call = call_to(tmp_path, "200")

    assert call.times_out() == [CancelTimer(TIMER), Play("c1-2", ("sound:ivr/no-option", *MAIN_MENU))]


def test_menu_after_the_last_attempt_goes_to_on_failure(tmp_path: Path) -> None:
    call = call_to(tmp_path, "200")
    call.press("#")
    call.prompt_ends()

    assert call.times_out() == [CancelTimer(TIMER), CancelTimer(TIMER), Hangup("normal"),
                                Finished("hung up by the flow", call.facts)]
    assert call.facts.entries == ["#", ""]
    assert call.facts.notes == ["menu main: no choice on the last of 2 attempt(s)"]
    assert call.facts.nodes == ["menu:main", "hangup"]


def test_menu_key_during_the_prompt(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start("200")

    assert call.press("1") == [StopPlayback("c1-1"), CancelTimer(TIMER), CancelTimer(TIMER),
                               *campaign(call, "sales")]


def test_menu_invalid_key_during_the_prompt(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start("200")

    assert call.press("5") == [StopPlayback("c1-1"), CancelTimer(TIMER),
                               Play("c1-2", ("sound:ivr/invalid-option", *MAIN_MENU))]
    assert call.send(PlaybackFinished("c1-1")) == []
    assert call.prompt_ends() == [StartTimer(TIMER, 4.0)]


def test_menu_ignores_what_is_not_a_key(tmp_path: Path) -> None:
    call = call_to(tmp_path, "200")

    assert call.press("X") == []
    assert call.facts.entries == []


# Time conditions (office: Monday to Friday 09:00-18:00 in Madrid, closed on holidays)


@pytest.mark.parametrize(("moment", "is_open"), [
    ("2026-01-14T08:30Z", True),  # Wednesday 09:30 in Madrid (CET), 08:30 in UTC
    ("2026-01-14T07:59Z", False),  # 08:59 in Madrid
    ("2026-01-14T16:59Z", True),  # 17:59 in Madrid
    ("2026-01-14T17:00Z", False),  # 18:00 in Madrid
    ("2026-07-15T16:30Z", False),  # Wednesday 18:30 in Madrid (CEST), 16:30 in UTC
    ("2026-07-15T07:30Z", True),  # 09:30 in Madrid (CEST)
    ("2026-03-27T07:30Z", False),  # Friday before the change to summer time: 08:30 CET
    ("2026-03-30T07:30Z", True),  # Monday after it: 09:30 CEST
    ("2026-01-16T23:30Z", False),  # Friday in UTC, Saturday 00:30 in Madrid
    ("2026-01-17T11:00Z", False),  # Saturday
    ("2026-12-25T10:00Z", False),  # Friday, Christmas every year
    ("2026-04-03T10:00Z", False),  # Friday, a holiday in 2026 only
    ("2027-04-02T10:00Z", True),  # Friday
])
def test_office_hours_in_the_zone_of_the_condition(tmp_path: Path, moment: str, is_open: bool) -> None:
    call = Call(customer_flow(tmp_path), now=datetime.fromisoformat(moment))
    commands = call.start("300")

    if is_open:
        assert commands == [Answer(), SetVariable("IVR_ENTRY", "time:office"), Play("c1-1", MAIN_MENU)]
        assert call.facts.nodes == ["time:office", "menu:main"]
        assert call.facts.notes == ["time office: open"]
    else:
        assert commands == [Answer(), SetVariable("IVR_ENTRY", "time:office"),
                            Play("c1-1", ("sound:ivr/closed",))]
        assert call.facts.nodes == ["time:office", "message:closed"]
        assert call.facts.notes == ["time office: closed"]


@pytest.mark.parametrize(("moment", "is_night"), [
    ("2026-01-14T20:59Z", False),  # 21:59 in Madrid
    ("2026-01-14T21:00Z", True),  # 22:00
    ("2026-01-14T23:30Z", True),  # 00:30, the next day
    ("2026-01-15T04:59Z", True),  # 05:59
    ("2026-01-15T05:00Z", False),  # 06:00
])
def test_hours_wrapping_midnight(tmp_path: Path, moment: str, is_night: bool) -> None:
    call = Call(customer_flow(tmp_path), now=datetime.fromisoformat(moment))
    call.start("301")

    assert call.facts.nodes == ["time:night", "message:closed" if is_night else "menu:main"]


# Messages, hang-ups and hand-offs to the dialplan


def test_message_then_hangup(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("900") == [Answer(), SetVariable("IVR_ENTRY", "message:sorry"),
                                 Play("c1-1", ("sound:ivr/sorry",))]
    assert call.send(PlaybackFinished("c1-0")) == []
    assert call.prompt_ends() == [Hangup("normal"), Finished("hung up by the flow", call.facts)]


def test_hangup_node_with_a_prompt_hangs_up_with_its_cause_after_it(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("700") == [Answer(), SetVariable("IVR_ENTRY", "hangup:busy"),
                                 Play("c1-1", ("sound:ivr/all-busy",))]
    assert call.press("1") == []
    assert call.prompt_ends() == [Hangup("busy"), Finished("hung up by the flow", call.facts)]


def test_hangup_node_without_a_prompt_hangs_up_at_once(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("701") == [Answer(), SetVariable("IVR_ENTRY", "hangup:full"), Hangup("congestion"),
                                 Finished("hung up by the flow", call.facts)]


def test_voicemail(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("400") == [
        Answer(), SetVariable("IVR_ENTRY", "voicemail:sales"), SetVariable("IVR_VOICEMAIL_BOX", "100@sales"),
        ContinueInDialplan("ivr-voicemail", "s", 1), Finished("sent to voicemail 100@sales", call.facts)]


def test_dialplan(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("500") == [
        Answer(), SetVariable("IVR_ENTRY", "dialplan:operator"), ContinueInDialplan("from-ivr", "200", 2),
        Finished("sent to dialplan from-ivr,200,2", call.facts)]


def test_external_number_by_trunk(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))

    assert call.start("600") == [
        Answer(), SetVariable("IVR_ENTRY", "external:mobile"),
        SetVariable("IVR_DIAL", "PJSIP/+34600111222@provider"), SetVariable("IVR_DIAL_TIMEOUT", "30"),
        ContinueInDialplan("ivr-dial", "s", 1),
        Finished("sent to external +34600111222 by trunk provider", call.facts)]


def test_a_flow_loop_hangs_up(tmp_path: Path) -> None:
    flow = flow_file(tmp_path, """
[entry]
default = "time:a"

[time.a]
timezone = "UTC"
open = ["always"]
on_match = "time:b"
otherwise = "time:b"

[time.b]
timezone = "UTC"
open = ["always"]
on_match = "time:a"
otherwise = "time:a"

[[timegroup.always]]
days = "mon-sun"
""")
    call = Call(flow)

    assert call.start() == [
        Answer(), SetVariable("IVR_ENTRY", "time:a"),
        Warn(f"flow loop: more than {MAX_HOPS} nodes visited, last time:a; hanging up"), Hangup("normal"),
        Finished(f"flow loop: more than {MAX_HOPS} nodes", call.facts)]
    assert call.facts.nodes == ["time:a", "time:b"] * (MAX_HOPS // 2)


def test_a_caller_going_round_a_menu_is_not_a_flow_loop(tmp_path: Path) -> None:
    flow = flow_file(tmp_path, """
[entry]
default = "menu:main"

[menu.main]
prompt = ["sound:ivr/main-menu"]
options = { "*" = "menu:main", "0" = "message:bye" }
on_failure = "hangup"

[message.bye]
prompt = ["sound:ivr/bye"]
then = "menu:main"
""")
    call = Call(flow)
    call.start()
    for _ in range(MAX_HOPS):
        call.press("*")
        call.press("0")
        call.prompt_ends()

    playing = call.playing
    assert call.press("*") == [StopPlayback(playing), CancelTimer(TIMER), CancelTimer(TIMER),
                               Play(f"c1-{3 * MAX_HOPS + 2}", MAIN_MENU)]
    assert len(call.facts.nodes) == 3 * MAX_HOPS + 2


def test_the_record_lists_the_nodes_in_order(tmp_path: Path) -> None:
    call = call_to(tmp_path, **{**CRM, "interaction": "true-false"})
    call.press("1234")
    call.crm_answers(NotIdentified())
    call.press("9")

    assert call.prompt_ends() == [Hangup("busy"), Finished("hung up by the flow", call.facts)]
    assert call.facts.nodes == ["identification:customer", "menu:main", "hangup:busy", "hangup"]
    assert call.facts.destination == "hangup"
    assert call.facts.entries == ["1234", "9"]


def test_stale_playback_finished_is_ignored(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path))
    call.start()

    assert call.send(PlaybackFinished("c1-0"), PlaybackFinished("c2-1"), PlaybackFinished("")) == []
    assert call.press("#") == [StopPlayback("c1-1"), CancelTimer(TIMER), Play("c1-2", NO_ENTRY)]
    assert call.send(PlaybackFinished("c1-1")) == []  # the prompt stopped by the key
    assert call.prompt_ends() == [StartTimer(TIMER, 5.0)]
    assert call.prompt_ends() == []  # the same one twice


def test_the_bundled_demo_flow(tmp_path: Path) -> None:
    with as_file(files("ivr") / "flows" / "demo.toml") as path:
        call = Call(load_flow(path, {}))

    assert call.start("123") == [Answer(), SetVariable("IVR_ENTRY", "identification:demo"),
                                 Play("c1-1", PROMPT)]
    assert call.press("42#") == [
        StopPlayback("c1-1"), StartTimer(TIMER, 3.0), StartTimer(TIMER, 3.0), CancelTimer(TIMER),
        SetVariable("__IVR_CUSTOMER_ID", "42"), *routed("identified", "message:thanks", "message"),
        Play("c1-2", ("sound:ivr/thank-you-goodbye",))]
    assert call.prompt_ends() == [Hangup("normal"), Finished("hung up by the flow", call.facts)]
