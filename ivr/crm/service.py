"""The CRM lookups of all calls: one HTTP client, one circuit breaker per node and URL."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import aiohttp

from ivr.core.commands import AskCrm
from ivr.crm.breaker import CircuitBreaker
from ivr.crm.client import CrmClient, CrmQuery, CrmResult, new_http_client


class CrmService:
    def __init__(self, http: aiohttp.ClientSession | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.http = http or new_http_client()
        self.environ = os.environ if environ is None else environ
        self._clients: dict[tuple[str, str, float, tuple[int, float]], CrmClient] = {}

    async def ask(self, command: AskCrm) -> CrmResult:
        secret = self.environ.get(command.authorization_env, "") if command.authorization_env else ""
        return await self._client(command).ask(CrmQuery(
            url=command.url, customer_id=command.customer_id, interaction=command.interaction,
            user_agent=command.user_agent, extras=command.extras, authorization=secret))

    def _client(self, command: AskCrm) -> CrmClient:
        key = (command.node, command.url, command.deadline, command.breaker)
        if (client := self._clients.get(key)) is None:
            failures, cooldown = command.breaker
            breaker = CircuitBreaker(failures, cooldown, time.monotonic)
            client = CrmClient(self.http, command.deadline, breaker)
            self._clients[key] = client
        return client

    def open_breakers(self) -> int:
        return sum(1 for client in self._clients.values() if client.breaker.is_open)

    async def aclose(self) -> None:
        await self.http.close()
