"""Asking the CRM: one POST under one overall deadline, whatever goes wrong on the way.

Slow-drip bodies, redirects, TLS failures, error statuses and oversized bodies all end as
``Unavailable`` with the reason, never as an exception and never past the deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import aiohttp

from ivr.core.crm_answer import Answer, Interaction, Unavailable
from ivr.crm.breaker import CircuitBreaker
from ivr.crm.protocol import parse_answer, request_body

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class CrmQuery:
    url: str
    customer_id: str
    interaction: Interaction
    user_agent: str = "OMniLeads"
    extras: tuple[tuple[str, str], ...] = ()
    authorization: str = ""


@dataclass(frozen=True)
class CrmResult:
    answer: Answer
    seconds: float


class CrmClient:
    def __init__(self, http: aiohttp.ClientSession, deadline: float, breaker: CircuitBreaker) -> None:
        self.http = http
        self.deadline = deadline
        self.breaker = breaker

    async def ask(self, query: CrmQuery) -> CrmResult:
        started = time.monotonic()
        if not self.breaker.allows():
            return CrmResult(Unavailable("circuit open after repeated CRM failures"), 0.0)
        try:
            async with asyncio.timeout(self.deadline):
                answer = await self._post(query)
        except TimeoutError:
            answer = Unavailable(f"no complete answer within {self.deadline:g} s")
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            answer = Unavailable(f"TLS: {exc}")
        except aiohttp.ClientConnectorError as exc:
            answer = Unavailable(f"cannot connect: {exc}")
        except aiohttp.ClientError as exc:
            answer = Unavailable(f"{type(exc).__name__}: {exc}")
        (self.breaker.failed if isinstance(answer, Unavailable) else self.breaker.succeeded)()
        return CrmResult(answer, time.monotonic() - started)

    async def _post(self, query: CrmQuery) -> Answer:
        headers = {"User-Agent": query.user_agent,
                   "Content-Type": "application/x-www-form-urlencoded"}
        if query.authorization:
            headers["Authorization"] = query.authorization
        body = request_body(query.customer_id, dict(query.extras))
        async with self.http.post(query.url, data=body, headers=headers, allow_redirects=False) as response:
            if response.status != 200:
                redirect = 300 <= response.status < 400 and "location" in response.headers
                return Unavailable(f"HTTP {response.status}"
                                   + (" (redirects are not followed)" if redirect else ""))
            data = bytearray()
            async for chunk in response.content.iter_any():
                data += chunk
                if len(data) > MAX_BODY:
                    return Unavailable(f"answer larger than {MAX_BODY} bytes")
        return parse_answer(bytes(data), query.interaction)


def new_http_client() -> aiohttp.ClientSession:
    """One per process, made inside the event loop (creating the TLS context takes 20-40 ms).
    TLS is verified. aiohttp, not httpx: a CRM request cost 1.2 ms of the app's CPU through httpx,
    the largest share of a call after ARI (docs/decisions.md, "Benchmark")."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, ssl=ssl.create_default_context()),
                                 timeout=aiohttp.ClientTimeout(total=10.0))
