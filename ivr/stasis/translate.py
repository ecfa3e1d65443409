"""ARI event JSON to core events. Pure functions, fed recorded events in the tests."""

from __future__ import annotations

from typing import Any

from ivr.core.caller_id import visible
from ivr.core.events import CallStarted, DigitPressed, Event, HungUp, MessageRecorded, PlaybackFinished


def channel_of(event: dict[str, Any]) -> str | None:
    """The channel an event is about, also for playbacks (``target_uri`` is ``channel:<id>``)."""
    channel = event.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    for what in ("playback", "recording"):
        media = event.get(what)
        if isinstance(media, dict):
            target = str(media.get("target_uri", ""))
            if target.startswith("channel:"):
                return target.removeprefix("channel:")
    return None


def call_started(channel: dict[str, Any], args: list[str], resumed: bool = False) -> CallStarted:
    """From ``Stasis(app,<route>,<exten>)``: the route first, as the shipped dialplan passes it;
    the requeue loop adds the caller's place in its campaign and its customer id."""
    dialplan = channel.get("dialplan") or {}
    caller = channel.get("caller") or {}
    route = args[0] if args else ""
    return CallStarted(
        caller=visible(str(caller.get("number", ""))),
        caller_name=visible(str(caller.get("name", ""))),
        exten=args[1] if len(args) > 1 else str(dialplan.get("exten", "")),
        route=route,
        resumed=resumed,
        waiting=args[2] if route == "requeue" and len(args) > 2 else "",
        customer_id=args[3] if route == "requeue" and len(args) > 3 else "",
    )


def stasis_args(channel: dict[str, Any]) -> list[str]:
    """The Stasis() arguments of a channel found by listing, e.g. ``ivr,inbound,100``."""
    dialplan = channel.get("dialplan") or {}
    if str(dialplan.get("app_name", "")).lower() != "stasis":
        return []
    return str(dialplan.get("app_data", "")).split(",")[1:]


CAUSES = {1: "Unallocated number", 16: "Normal Clearing", 17: "User busy", 18: "No user responding",
          19: "No answer", 21: "Call rejected", 27: "Destination out of order", 31: "Normal, unspecified",
          34: "No circuit available", 38: "Network out of order", 41: "Temporary failure"}
"""Q.850 causes as Asterisk names them, for those a call ends with most often."""


def hangup_request(event: dict[str, Any]) -> str:
    """What a hang-up request says, for the record. Asterisk gives no cause for some (a soft
    hang-up, a Local channel's); a BYE brings cause 16.

    >>> hangup_request({"cause": 16}), hangup_request({"cause": 99})
    ('hangup request, cause 16 (Normal Clearing)', 'hangup request, cause 99')
    >>> hangup_request({"soft": True}), hangup_request({})
    ('hangup request (soft, no cause given)', 'hangup request (no cause given)')
    """
    cause = event.get("cause")
    if isinstance(cause, int):
        name = CAUSES.get(cause)
        return f"hangup request, cause {cause}" + (f" ({name})" if name else "")
    return "hangup request (soft, no cause given)" if event.get("soft") else "hangup request (no cause given)"


def translate(event: dict[str, Any]) -> Event | None:
    kind = event.get("type")
    if kind == "StasisStart":
        return call_started(event.get("channel") or {}, [str(a) for a in event.get("args", [])])
    if kind == "ChannelDtmfReceived":
        return DigitPressed(str(event.get("digit", "")))
    if kind == "PlaybackFinished":
        return PlaybackFinished(str((event.get("playback") or {}).get("id", "")))
    if kind in ("RecordingFinished", "RecordingFailed"):
        recording = event.get("recording") or {}
        failed = "" if kind == "RecordingFinished" else str(recording.get("cause") or "recording failed")
        return MessageRecorded(str(recording.get("name", "")), failed)
    if kind == "ChannelHangupRequest":
        return HungUp(hangup_request(event))
    if kind == "ChannelDestroyed":
        return HungUp(str(event.get("cause_txt") or event.get("cause", "destroyed")))
    if kind == "StasisEnd":
        return HungUp("left the application")
    return None
