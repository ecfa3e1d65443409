"""Asking the CRM: one POST under one overall deadline, whatever goes wrong on the way.

Slow-drip bodies, redirects, TLS failures, error statuses and oversized bodies all end as
``Unavailable`` with the reason, never as an exception and never past the deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import httpx

from ivr.crm.breaker import CircuitBreaker
from ivr.crm.protocol import Answer, Interaction, Unavailable, parse_answer, request_body

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
    def __init__(self, http: httpx.AsyncClient, deadline: float, breaker: CircuitBreaker) -> None:
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
        except httpx.ConnectError as exc:
            answer = Unavailable(_connect_reason(exc))
        except httpx.HTTPError as exc:
            answer = Unavailable(f"{type(exc).__name__}: {exc}")
        (self.breaker.failed if isinstance(answer, Unavailable) else self.breaker.succeeded)()
        return CrmResult(answer, time.monotonic() - started)

    async def _post(self, query: CrmQuery) -> Answer:
        headers = {"User-Agent": query.user_agent,
                   "Content-Type": "application/x-www-form-urlencoded"}
        if query.authorization:
            headers["Authorization"] = query.authorization
        body = request_body(query.customer_id, dict(query.extras))
        async with self.http.stream("POST", query.url, content=body, headers=headers) as response:
            if response.status_code != 200:
                return Unavailable(f"HTTP {response.status_code}"
                                   + (" (redirects are not followed)" if response.is_redirect else ""))
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_BODY:
                    return Unavailable(f"answer larger than {MAX_BODY} bytes")
        return parse_answer(bytes(data), query.interaction)


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause = exc.__context__ or exc.__cause__
    if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) or "certificate" in str(exc):
        return f"TLS: {exc}"
    return f"cannot connect: {exc}"


def new_http_client() -> httpx.AsyncClient:
    """One per process (creating one loads the TLS context: 20-40 ms). TLS is verified."""
    return httpx.AsyncClient(follow_redirects=False, verify=True,
                             timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_connections=200))
