"""`ivr run`: the ARI application, serving calls until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal

from ivr.ari.events import EventStream
from ivr.ari.rest import AriRest
from ivr.core.demo_flow import DemoFlow
from ivr.core.digits import DigitRules
from ivr.secrets import ari_password
from ivr.settings import Settings
from ivr.stasis.app import FlowFactory, StasisApp
from ivr.stasis.session import Flow
from ivr.store.call_log import CallLog, CallLogWriter
from ivr.store.engine import database_url, open_engine
from ivr.store.migrations import upgrade

log = logging.getLogger("ivr.run")


def flow_factory(settings: Settings) -> FlowFactory:
    demo = settings.demo
    rules = DigitRules(demo.max_digits, demo.terminator, demo.first_digit_timeout,
                       demo.inter_digit_timeout)

    def new_flow(channel_id: str) -> Flow:
        return DemoFlow(channel_id, demo.prompt, rules)

    return new_flow


async def serve(settings: Settings) -> None:
    """Serve calls until SIGINT/SIGTERM; raises AriAuthError or AriUnreachable on start-up."""
    password = ari_password(settings)
    engine = open_engine(database_url(settings))
    await upgrade(engine)
    records = CallLogWriter(CallLog(engine))
    rest = AriRest(settings.ari_url, settings.ari.user, password, settings.ari.request_timeout)
    stream: EventStream
    app = StasisApp(settings.ari.app, rest, flow_factory(settings),
                    connection=lambda: stream.connections, flow_name="demo", on_record=records)
    stream = EventStream(settings.ari_url, settings.ari.user, password, settings.ari.app,
                         on_event=app.on_event, on_connected=app.reconcile,
                         ping_interval=settings.ari.ping_interval,
                         startup_timeout=settings.ari.startup_timeout)
    reader = asyncio.create_task(stream.run(), name="ari-events")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            reader.result()
        log.info("stopping: handing %d call(s) to the dialplan", len(app.sessions))
        await app.hand_over()
        await asyncio.wait_for(stream.close(), timeout=5)
        await asyncio.wait_for(reader, timeout=5)
    finally:
        for task in (reader, stopping):
            task.cancel()
        await records.drain()
        await rest.aclose()
        await engine.dispose()
