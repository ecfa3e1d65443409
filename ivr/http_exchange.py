"""One HTTP request to a service the app sends to (an SMS gateway, a customer's backend): no
redirect followed, the answer read up to a limit, every way of failing one ``HttpFailure`` whose
message says the cause in a line."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import aiohttp

MAX_ANSWER = 4096


class HttpFailure(Exception):
    """No answer in time, no connection, TLS refused, or a status other than 2xx."""


async def exchange(http: aiohttp.ClientSession, method: str, url: str, timeout: float, *,
                   params: Mapping[str, str] | None = None, data: bytes | None = None,
                   headers: Mapping[str, str] | None = None, max_answer: int = MAX_ANSWER) -> str:
    """The answer's text when the status is 2xx, else ``HttpFailure`` with the status and the
    answer's first 200 characters."""
    try:
        async with asyncio.timeout(timeout), http.request(
                method, url, params=params, data=data, headers=headers, allow_redirects=False) as response:
            answer = (await response.content.read(max_answer)).decode("utf-8", "replace")
    except TimeoutError:
        raise HttpFailure(f"no answer within {timeout:g} s") from None
    except aiohttp.ClientSSLError as exc:
        raise HttpFailure(f"TLS: {exc}") from exc
    except aiohttp.ClientConnectorError as exc:
        cause = os.strerror(exc.errno) if exc.errno else str(exc)
        raise HttpFailure(f"cannot connect to {exc.host}:{exc.port}: {cause}") from exc
    except aiohttp.ClientError as exc:
        raise HttpFailure(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status < 300:
        raise HttpFailure(f"HTTP {response.status}: {answer[:200]!r}")
    return answer
