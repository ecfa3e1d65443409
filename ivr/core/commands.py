"""What the core asks to be done to a call; the ARI adapter carries each one out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    pass


@dataclass(frozen=True)
class Play:
    playback_id: str
    media: tuple[str, ...]


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True)
class ContinueInDialplan:
    context: str
    exten: str
    priority: int = 1


@dataclass(frozen=True)
class Hangup:
    reason: str = "normal"


@dataclass(frozen=True)
class Finished:
    """The flow is done with the call (it hung up, or went back to the dialplan)."""

    outcome: str
    digits: str = ""


Command = (Answer | Play | StopPlayback | StartTimer | CancelTimer | SetVariable
           | ContinueInDialplan | Hangup | Finished)
