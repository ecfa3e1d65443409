"""Event-loop lag of `ivr run`, for the benchmark: how late a short sleep wakes up, sampled
all the time and appended to the file named by ``IVR_LOOP_LAG_FILE`` as ``<unix time> <lag s>``
lines. Off unless that variable is set."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

INTERVAL = 0.2
"""Each wake-up of an idle loop costs about 0.2 ms of CPU on this machine kind: sampled every
50 ms, the sampler alone cost `ivr run` 5.5 ms of CPU a second, which the benchmark counted as
the app's (10 ms a call in a 10-call run)."""
ENVIRONMENT = "IVR_LOOP_LAG_FILE"


def lag_file() -> Path | None:
    name = os.environ.get(ENVIRONMENT, "")
    return Path(name) if name else None


async def sample(path: Path, interval: float = INTERVAL, flush_every: int = 20) -> None:
    """Until cancelled; writes every ``flush_every`` samples so the file never holds the loop."""
    lines: list[str] = []
    with path.open("a") as out:
        try:
            while True:
                before = time.monotonic()
                await asyncio.sleep(interval)
                lines.append(f"{time.time():.3f} {time.monotonic() - before - interval:.6f}\n")
                if len(lines) >= flush_every:
                    out.writelines(lines)
                    out.flush()
                    lines.clear()
        finally:
            out.writelines(lines)


def read_lags(text: str, start: float, end: float) -> list[float]:
    """The lags sampled between two unix times.

    >>> read_lags("10.0 0.001\\n11.0 0.020\\n12.0 0.003\\n", 10.5, 12.0)
    [0.02, 0.003]
    """
    lags = []
    for line in text.splitlines():
        at, _, lag = line.partition(" ")
        if start <= float(at) <= end:
            lags.append(float(lag))
    return lags
