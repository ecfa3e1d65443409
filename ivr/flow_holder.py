"""The flow file's current flow, for `ivr run` and `ivr agi`: reloaded on SIGHUP, kept when the
new file is invalid."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from ivr.config_file import ConfigError
from ivr.core.call_flow import CallFlow
from ivr.core.flow import Flow
from ivr.flow_file import load_flow

log = logging.getLogger("ivr.flow")


class FlowHolder:
    """The flow new calls get. A reload swaps it only when the new file is valid; calls in
    progress keep the flow they started with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Flow = load_flow(path)

    async def reload(self) -> bool:
        try:
            # In a thread: a flow of 2000 agents takes some 50 ms to read and check.
            flow = await asyncio.to_thread(load_flow, self.path)
        except ConfigError as exc:
            log.error("reload: %s has %d problem(s); still serving the previous flow:\n  %s",
                      self.path, len(exc.problems), "\n  ".join(str(p) for p in exc.problems))
            return False
        self.current = flow
        log.info("reload: new calls get the flow of %s (%d nodes)", self.path, len(flow.nodes))
        return True

    def new_call(self, channel_id: str) -> CallFlow:
        return CallFlow(channel_id, self.current, lambda: datetime.now(UTC))
