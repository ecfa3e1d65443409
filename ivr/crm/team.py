"""Dynamic teams: a web service says, per call, which agents to offer it to and in what order.

Request: ``POST <team_url>`` with JSON ``{"call": ..., "caller": ..., "did": ..., "campaign":
..., "customer_id": ..., "variables": {...}}``. Answer: ``{"agents": ["ana", "bo@example.com"]}``,
agent ids or emails, best first. Anything else (timeout, error status, bad JSON) is a reason to
fall back to the campaign's own strategy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from ivr.json_input import JsonInputError, parse_json

MAX_BODY = 64 * 1024
MAX_AGENTS = 200


@dataclass(frozen=True)
class TeamAnswer:
    agents: tuple[str, ...] | None
    reason: str = ""


def parse_team(body: bytes, known: Mapping[str, str]) -> TeamAnswer:
    """Agent ids, from ids or emails (``known`` maps both to the id); unknown ones are dropped.

    >>> parse_team(b'{"agents": ["bo@x.org", "ana", "zed"]}', {"ana": "ana", "bo@x.org": "bo"})
    TeamAnswer(agents=('bo', 'ana'), reason='unknown agents ignored: zed')
    >>> parse_team(b'{"agents": "ana"}', {}).reason
    'agents must be a list of strings'
    >>> parse_team(b'[' * 5000 + b']' * 5000, {}).reason
    'answer: nested deeper than 32 levels'
    """
    try:
        data = parse_json(body, max_bytes=MAX_BODY)
    except JsonInputError as exc:
        return TeamAnswer(None, f"answer: {exc}")
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        return TeamAnswer(None, "agents must be a list of strings")
    if len(agents) > MAX_AGENTS:
        return TeamAnswer(None, f"more than {MAX_AGENTS} agents")
    ids = [known[a] for a in agents if a in known]
    unknown = [a for a in agents if a not in known]
    order = tuple(dict.fromkeys(ids))
    return TeamAnswer(order, f"unknown agents ignored: {', '.join(unknown)[:200]}" if unknown else "")


async def ask_team(http: aiohttp.ClientSession, url: str, deadline: float, call: Mapping[str, object],
                   known: Mapping[str, str]) -> TeamAnswer:
    try:
        async with asyncio.timeout(deadline):
            async with http.post(url, json=dict(call), allow_redirects=False) as response:
                if response.status != 200:
                    return TeamAnswer(None, f"HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_any():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return TeamAnswer(None, f"answer larger than {MAX_BODY} bytes")
    except TimeoutError:
        return TeamAnswer(None, f"no complete answer within {deadline:g} s")
    except aiohttp.ClientError as exc:
        return TeamAnswer(None, f"{type(exc).__name__}: {exc}")
    return parse_team(bytes(body), known)
