"""A benchmark's hold on the PBX instance it started: Asterisk's process, its AMI events, its
channels, and the wait for a run's last calls to end. `ivr bench` and `ivr bench contention`
each start an instance of their own."""

from __future__ import annotations

import asyncio
import time

from ivr.bench.ami_events import AmiEvents
from ivr.bench.process_stats import Process
from ivr.pbx import control
from ivr.pbx.instance import instance_for
from ivr.secrets import pbx_secrets_dir
from ivr.settings import Settings

SETTLE_TIMEOUT = 20.0


class BenchPbx:
    settings: Settings

    async def ami(self) -> AmiEvents:
        secret = (pbx_secrets_dir(self.settings) / "ami-password").read_text().strip()
        events = AmiEvents(self.settings.pbx.ami_port, "ivr", secret)
        await events.start()
        return events

    def asterisk(self) -> Process:
        pid = control.running_pid(instance_for(self.settings))
        if pid is None:
            raise control.PbxError(f"the {self.settings.pbx.instance} PBX is not running")
        return Process(pid)

    def active_channels(self) -> int:
        _, output = control.cli(self.settings, "core show channels count")
        for line in output.splitlines():
            if line.endswith(("active channels", "active channel")):
                return int(line.split()[0])
        raise control.PbxError(f"unexpected answer to 'core show channels count': {output!r}")

    def hang_up_all(self) -> None:
        control.cli(self.settings, "channel request hangup all")

    async def settle(self) -> int:
        """Until Asterisk has no channel left (hanging up what is left after SETTLE_TIMEOUT), and
        a moment for the last events to arrive; returns how many channels were left."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while left := await asyncio.to_thread(self.active_channels):
            if time.monotonic() > deadline:
                await asyncio.to_thread(self.hang_up_all)
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        return left
