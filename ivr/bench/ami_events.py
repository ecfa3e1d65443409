"""The benchmark's witness: Asterisk's AMI event stream, with Asterisk's own time of each event
(``timestampevents = yes``), kept in memory for the call timings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

WANTED = ("Newchannel", "Newstate", "DTMFEnd", "BridgeEnter", "Hangup")

Event = dict[str, str]


def split_events(buffer: str) -> tuple[list[Event], str]:
    """Complete messages in ``buffer`` (each ends with an empty line) and the incomplete rest.

    >>> split_events("Event: Hangup\\r\\nUniqueid: 1.2\\r\\n\\r\\nEvent: New")
    ([{'Event': 'Hangup', 'Uniqueid': '1.2'}], 'Event: New')
    """
    *blocks, rest = buffer.split("\r\n\r\n")
    return [dict(_fields(block)) for block in blocks], rest


def _fields(block: str) -> Iterator[tuple[str, str]]:
    for line in block.split("\r\n"):
        name, separator, value = line.partition(": ")
        if separator:
            yield name, value


class AmiEvents:
    """Logs in, asks Asterisk to send only the events the timings need, and keeps them."""

    def __init__(self, port: int, user: str, secret: str) -> None:
        self.port, self.user, self.secret = port, user, secret
        self.events: list[Event] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer = writer
        await reader.readline()  # "Asterisk Call Manager/x.y"
        # Asterisk filters the events itself: the others never cross the socket.
        writer.write(f"Action: Login\r\nUsername: {self.user}\r\nSecret: {self.secret}\r\n"
                     f"Events: call,dtmf\r\n\r\nAction: Filter\r\nOperation: Add\r\n"
                     f"Filter: Event: ({'|'.join(WANTED)})\r\n\r\n".encode())
        await writer.drain()
        self._task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        rest = ""
        while chunk := await reader.read(65536):
            messages, rest = split_events(rest + chunk.decode("utf-8", "replace"))
            self.events.extend(m for m in messages if m.get("Event") in WANTED)

    def take(self) -> list[Event]:
        """The events since the last call, and forget them."""
        taken, self.events = self.events, []
        return taken

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
