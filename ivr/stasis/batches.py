"""How one call's commands go to Asterisk: which wait for the ones before them, which go
together, and which are carried out inside the app at once."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.commands import (
    Answer,
    AskCrm,
    AskPosition,
    CancelTimer,
    Command,
    ConnectAgent,
    ContinueInDialplan,
    Finished,
    Hangup,
    JoinCampaign,
    LeaveCampaign,
    Play,
    RegisterCallback,
    RememberAgent,
    SetVariable,
    StartTimer,
    Warn,
)

LOCAL = (StartTimer, CancelTimer, AskCrm, JoinCampaign, LeaveCampaign, AskPosition, RememberAgent, Warn,
         RegisterCallback)
"""Commands carried out inside the app, at once: none waits on Asterisk or on another command."""
IN_ORDER = (Answer, Play, ContinueInDialplan, Hangup, ConnectAgent, Finished)
"""Commands that wait for everything before them and go before everything after them. A prompt
runs on the channel's own thread in Asterisk, which holds a variable's request sent meanwhile
until the prompt ends: sent together, a prompt that got there first held the call's session,
and the keys pressed over it, for the whole prompt. Bridging is held the same way, so the
agent is connected only once the caller's prompt is stopped."""


def _conflict(command: Command) -> str:
    """Commands with the same key keep their order: a variable set twice, and whatever the
    caller hears (music, prompts)."""
    return f"variable {command.name}" if isinstance(command, SetVariable) else "media"


@dataclass(frozen=True)
class SetVariables:
    """A group's SetVariable commands, sent in as few requests as Asterisk allows."""
    pairs: tuple[tuple[str, str], ...]


def requests_of(group: list[Command]) -> list[Command | SetVariables]:
    """What a group of ``batches`` sends to Asterisk at once: its commands that are not LOCAL,
    the variables together.

    >>> from ivr.core.commands import StopMoh
    >>> requests_of([SetVariable("A", "1"), StopMoh(), StartTimer("t", 1.0), SetVariable("B", "2")])
    [StopMoh(), SetVariables(pairs=(('A', '1'), ('B', '2')))]
    """
    pairs = tuple((c.name, c.value) for c in group if isinstance(c, SetVariable))
    others: list[Command | SetVariables] = [c for c in group if not isinstance(c, (*LOCAL, SetVariable))]
    return [*others, SetVariables(pairs)] if pairs else others


def batches(commands: list[Command]) -> list[list[Command]]:
    """The commands as groups sent at once, each group after the one before has been answered.
    Between two IN_ORDER commands, a request joins the last group unless something there
    touches the same thing (see _conflict), and LOCAL commands join the first group, so that a
    caller joins a campaign's line while its music and variables are still being sent (one
    request at a time, they held the call some 15 ms before it joined).

    >>> from ivr.core.commands import StartMoh, StopMoh
    >>> batches([Answer(), SetVariable("A", "1"), SetVariable("B", "2"), StopMoh(),
    ...          SetVariable("A", "3"), StartMoh("x"), StartTimer("t", 1.0), Hangup("normal")])
    ... # doctest: +NORMALIZE_WHITESPACE
    [[Answer()],
     [SetVariable(name='A', value='1'), SetVariable(name='B', value='2'), StopMoh(),
      StartTimer(name='t', seconds=1.0)],
     [SetVariable(name='A', value='3'), StartMoh(music_class='x')],
     [Hangup(reason='normal')]]
    """
    out: list[list[Command]] = []
    first = 0
    for command in commands:
        if isinstance(command, IN_ORDER):
            out.append([command])
            first = len(out)
        elif isinstance(command, LOCAL):
            if len(out) > first:
                out[first].append(command)
            else:
                out.append([command])
        elif len(out) > first and _conflict(command) not in {
                _conflict(c) for c in out[-1] if not isinstance(c, LOCAL)}:
            out[-1].append(command)
        else:
            out.append([command])
    return out
