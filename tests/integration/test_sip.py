"""A real SIP call with RFC 2833 DTMF, from SIPp into the PJSIP loopback endpoint."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from ivr.ari.events import EventStream
from tests.integration import sipp
from tests.integration.harness import App, Pbx, until


class Watcher:
    """Every event of every channel, from a private all-events subscription."""

    def __init__(self, pbx: Pbx) -> None:
        self.events: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._stream = EventStream(pbx.ari_url, "ivr", pbx.password, "test-watcher",
                                   on_event=self.events.append, on_connected=self._nothing,
                                   subscribe_all=True)
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._run(),), daemon=True)
        self._thread.start()
        until(self._stream.connected.is_set, 5, "the watcher to connect")

    async def _nothing(self) -> None:
        return None

    async def _run(self) -> None:
        self._task = asyncio.current_task()
        try:
            await self._stream.run()
        except asyncio.CancelledError:
            pass

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)  # type: ignore[union-attr]
        self._thread.join(5)
        self._loop.close()

    def digits(self, channel_prefix: str) -> str:
        return "".join(e["digit"] for e in self.events
                       if e.get("type") == "ChannelDtmfReceived"
                       and e.get("channel", {}).get("name", "").startswith(channel_prefix))

    def variable(self, name: str, channel_prefix: str) -> list[str]:
        return [e["value"] for e in self.events
                if e.get("type") == "ChannelVarset" and e.get("variable") == name
                and e.get("channel", {}).get("name", "").startswith(channel_prefix)]


def test_sip_call_with_rfc2833_digits_reaches_the_app(pbx: Pbx, app: App, tmp_path: Path) -> None:
    watcher = Watcher(pbx)
    try:
        result = sipp.call(pbx.sip_port, "100", "1234#", tmp_path)
        until(lambda: watcher.variable("IVR_RESULT", "PJSIP/loopback"), 10, "IVR_RESULT")
    finally:
        watcher.close()

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert watcher.digits("PJSIP/loopback") == "1234#"
    assert watcher.variable("__IVR_CUSTOMER_ID", "PJSIP/loopback") == ["1234"]
    assert watcher.variable("IVR_RESULT", "PJSIP/loopback") == ["identified"]
