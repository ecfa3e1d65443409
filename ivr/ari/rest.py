"""ARI REST calls, each a method named after what it does to the call."""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ivr.ari.http import HttpClient
from ivr.ari.tls import AriTls

LEG_APP = "IVR_LEG_APP"
"""Set on every leg the app calls, to its app name: a leg enters Stasis only once answered, so
one still ringing when its process died is found among all channels by this (``StasisApp``)."""


PLAIN_NAME = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]*")
ARRAY_MOST = 99
"""Variables in one ARRAY(): Asterisk's function takes at most 100 values."""
ARRAY_CHARACTERS = 2000
"""Characters of the percent-encoded values in one request: Asterisk reads a request line of at
most 4 KiB."""


def array_value(values: Sequence[str]) -> str:
    r"""The value of ``ARRAY(name1,name2,...)`` that sets each name to its value: Asterisk splits
    it on commas, and a backslash makes the next character plain (a quote, a comma, a bracket,
    a parenthesis, a backslash).

    >>> print(array_value(["a,b", 'say "hi" (now) [x]', "c:\\temp", ""]))
    a\,b,say \"hi\" \(now\) \[x\],c:\\temp,
    """
    return ",".join(re.sub(r'([\\",()\[\]])', r"\\\1", value) for value in values)


def variable_requests(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    r"""(variable, value) of the requests that set these channel variables: plain names together
    in one ``ARRAY()`` (one request instead of one each) as long as the request stays short, the
    others one by one.

    >>> variable_requests([("IVR_RESULT", "identified"), ("__IVR_CRM_NAME", "Ana, Bo")])
    [('ARRAY(IVR_RESULT,__IVR_CRM_NAME)', 'identified,Ana\\, Bo')]
    >>> variable_requests([("IVR_AGENT", "ana")])
    [('IVR_AGENT', 'ana')]
    >>> [name for name, _ in variable_requests([("A", "x" * 900), ("B", "é" * 200), ("C", "z")])]
    ['ARRAY(A,C)', 'B']
    """
    group: list[tuple[str, str]] = []
    alone: list[tuple[str, str]] = []
    size = 0
    for name, value in pairs:
        cost = len(quote(array_value([value]))) + 1
        if PLAIN_NAME.fullmatch(name) and size + cost <= ARRAY_CHARACTERS and len(group) < ARRAY_MOST:
            group.append((name, value))
            size += cost
        else:
            alone.append((name, value))
    if len(group) > 1:
        names = ",".join(name for name, _ in group)
        group = [(f"ARRAY({names})", array_value([value for _, value in group]))]
    return group + alone


class AriError(Exception):
    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        super().__init__(f"ARI {method} {path}: HTTP {status} {message}".strip())


class AriAuthError(AriError):
    pass


class NotFound(AriError):
    """The channel, bridge or playback is gone (404), usually because the caller hung up."""


VOICE_FORMATS = "ulaw,alaw,gsm"
"""The codecs offered on a leg that has no other channel to take them from."""


class AriRest:
    """Over a plain HTTP/1.1 client (ivr.ari.http): a call makes some twenty requests, which
    cost 1 ms of the app's CPU each through httpx and 0.45 ms through aiohttp
    (docs/decisions.md, "HTTP clients")."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float = 5.0,
                 tls: AriTls | None = None, timed: Callable[[float], None] = lambda seconds: None) -> None:
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._http = HttpClient(f"{base_url}/ari", {"Authorization": f"Basic {credentials}"}, timeout, tls)
        self.sent: Counter[tuple[str, str]] = Counter()
        """Requests sent, by method and resource (``POST``, ``channels``): what a call costs
        Asterisk, for /metrics and the benchmark."""
        self.timed = timed
        """Told how long each request took, waiting for a connection included, answered or not
        (/metrics, admission control)."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                      body: dict[str, Any] | None = None) -> Any:
        content = await self._raw(method, path, params, body)
        return json.loads(content) if content else None

    async def stored_recording(self, name: str) -> bytes:
        """A stored recording's file (a caller's message for a callback), as Asterisk keeps it."""
        return await self._raw("GET", f"/recordings/stored/{name}/file")

    async def _raw(self, method: str, path: str, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None) -> bytes:
        self.sent[method, path.split("/", 2)[1]] += 1
        started = time.monotonic()
        try:
            status, content = await self._http.request(method, path, params,
                                                       json.dumps(body).encode() if body is not None else b"")
        finally:
            self.timed(time.monotonic() - started)
        if status >= 300:
            try:
                message = str(json.loads(content).get("message", ""))
            except (ValueError, AttributeError):
                message = content[:200].decode("utf-8", "replace")
            kind = {401: AriAuthError, 404: NotFound}.get(status, AriError)
            raise kind(status, method, path, message)
        return content

    async def application(self, app: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/applications/{app}")
        return result

    async def filter_events(self, app: str, allowed: tuple[str, ...]) -> None:
        """Only these event types reach the app: Asterisk sends ChannelVarset for every variable
        set on a channel, its own included (some forty per benchmark call, each with the whole
        channel), and nothing here reads them."""
        await self.request("PUT", f"/applications/{app}/eventFilter",
                           body={"allowed": [{"type": kind} for kind in allowed]})

    async def subscribe(self, app: str, sources: list[str]) -> None:
        """Events of these sources too, e.g. ``endpoint:PJSIP/agent-ana``."""
        await self.request("POST", f"/applications/{app}/subscription",
                           params={"eventSource": ",".join(sources)})

    async def channels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/channels")
        return result

    async def channel(self, channel_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/channels/{channel_id}")
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def play(self, channel_id: str, playback_id: str, media: tuple[str, ...]) -> None:
        # ARI takes several media as one comma-separated value; a repeated key keeps the last.
        await self.request("POST", f"/channels/{channel_id}/play/{playback_id}",
                           params={"media": ",".join(media)})

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def start_moh(self, channel_id: str, music_class: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", {"mohClass": music_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh")

    async def get_variable(self, channel_id: str, name: str) -> str:
        result = await self.request("GET", f"/channels/{channel_id}/variable", {"variable": name})
        return str((result or {}).get("value", ""))

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable",
                           params={"variable": name, "value": value})

    async def get_global(self, name: str) -> str:
        result = await self.request("GET", "/asterisk/variable", {"variable": name})
        return str((result or {}).get("value", ""))

    async def set_global(self, name: str, value: str) -> None:
        await self.request("POST", "/asterisk/variable", params={"variable": name, "value": value})

    async def user_event(self, app: str, name: str) -> None:
        """An event (``ChannelUserevent``) Asterisk sends back to ``app`` through its event stream."""
        await self.request("POST", f"/events/user/{name}", params={"application": app})

    async def set_variables(self, channel_id: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Several variables in as few requests as ``variable_requests`` allows: each is a round
        trip through the channel's own thread in Asterisk (nine per benchmark call were half of
        the app's requests)."""
        for name, value in variable_requests(pairs):
            await self.set_variable(channel_id, name, value)

    async def continue_in_dialplan(self, channel_id: str, context: str, exten: str,
                                   priority: int) -> None:
        await self.request("POST", f"/channels/{channel_id}/continue",
                           params={"context": context, "extension": exten, "priority": priority})

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})

    async def send_dtmf(self, channel_id: str, dtmf: str, between_ms: int = 100,
                        duration_ms: int = 100) -> None:
        await self.request("POST", f"/channels/{channel_id}/dtmf",
                           params={"dtmf": dtmf, "between": between_ms, "duration": duration_ms})

    async def originate(self, endpoint: str, app: str, channel_id: str, other_channel_id: str,
                        caller_id: str, formats: str, timeout: int = 30) -> dict[str, Any]:
        """A new channel into ``app``. Formats are explicit: with neither them nor an
        ``originator``, Asterisk once brought a leg up at 192 kHz and resampling took 73% of
        its CPU (agent legs pass the caller's channel as originator instead)."""
        params: dict[str, Any] = {
            "endpoint": endpoint, "app": app, "channelId": channel_id,
            "otherChannelId": other_channel_id, "callerId": caller_id, "timeout": timeout,
            "formats": formats,
        }
        result: dict[str, Any] = await self.request("POST", "/channels", params=params)
        return result

    async def call_into_app(self, endpoint: str, app: str, args: str, channel_id: str, originator: str,
                         caller_id: str, timeout: int, variables: Mapping[str, str]) -> None:
        """A leg into ``app`` (an agent's, a callback's customer's), its codecs taken from the
        channel it is made for (``originator``), with its channel variables set in the same
        request (and ``LEG_APP``). Without an originator (an agent called for a callback) the
        formats are given instead (see ``originate``)."""
        codecs = {"originator": originator} if originator else {"formats": VOICE_FORMATS}
        await self.request("POST", "/channels", params={
            "endpoint": endpoint, "app": app, "appArgs": args, "channelId": channel_id,
            **codecs, "callerId": caller_id, "timeout": timeout},
            body={"variables": {LEG_APP: app, **variables}})

    async def record(self, channel_id: str, name: str, max_seconds: float, silence_seconds: float) -> None:
        """A message from the caller, after a beep, until ``#``, silence or the time is up; kept by
        Asterisk as a stored recording (``recording:<name>`` plays it)."""
        await self.request("POST", f"/channels/{channel_id}/record", params={
            "name": name, "format": "wav", "maxDurationSeconds": round(max_seconds),
            "maxSilenceSeconds": round(silence_seconds), "ifExists": "overwrite", "beep": "true",
            "terminateOn": "#"})

    async def endpoints(self, tech: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", f"/endpoints/{tech}")
        return result

    async def create_bridge(self, bridge_id: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}", {"type": "mixing"})

    async def add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channels)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")
