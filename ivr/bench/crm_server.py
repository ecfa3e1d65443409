"""The benchmark's CRM: the OMniLeads identification protocol on 127.0.0.1, answering every
customer with campaign 1 (``"1,1"``) after a set latency, or failing (HTTP 503) at a set rate.
Each request waits on its own timer: a slow answer never holds up another request."""

from __future__ import annotations

import argparse
import asyncio
import json
import random

from aiohttp import web

ANSWER = json.dumps({"status": "ok", "destination": "1,1"})


def make_app(latency: float, failure_rate: float, seed: int = 1) -> web.Application:
    chance = random.Random(seed)

    async def identify(request: web.Request) -> web.Response:
        form = await request.post()
        if "idContact" not in form:
            return web.Response(status=400, text="idContact missing")
        await asyncio.sleep(latency)
        if chance.random() < failure_rate:
            return web.Response(status=503, text="unavailable")
        return web.Response(text=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/identify", identify)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests answered 503")
    args = parser.parse_args()
    web.run_app(make_app(args.latency, args.failure_rate), host="127.0.0.1", port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
