"""A fake ARI on 127.0.0.1 that records every request (no Asterisk)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from aiohttp import web

from ivr.ari.rest import AriRest


class Recorder:
    """Records each request as ``METHOD /path?query`` on arrival and answers it with one status."""

    def __init__(self, status: int = 204) -> None:
        self.requests: list[str] = []
        self.status = status
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}?{urlencode(list(request.query.items()))}")
        self.arrived.set()
        if self.status == 204:
            return web.Response(status=204)
        return web.json_response({"message": "Channel not found"}, status=self.status)


@asynccontextmanager
async def rest_for(recorder: Recorder) -> AsyncIterator[AriRest]:
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rest = AriRest(f"http://127.0.0.1:{runner.addresses[0][1]}", "ivr", "pw")
    try:
        yield rest
    finally:
        await rest.aclose()
        await runner.cleanup()
