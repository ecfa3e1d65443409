"""Call records the database refused, kept on local disk until it takes them.

One line per record (JSON, written by ``ivr.store.call_log``), appended and synced (``fsync``)
before the writer moves on, so a record survives the app being killed as well as the database
being away. The replay reads the
lines in order, has them inserted, and only then drops them from the file, by writing what is
left to a new file and renaming it over the old one (a crash leaves either file whole). A crash
between the insert and the drop replays those lines again: the insert skips a record whose
``record_id`` the table already holds, so nothing is stored twice (docs/decisions.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("ivr.store")


class RecordSpool:
    """The spool file of one app process (``ivr run`` per app name, ``ivr agi``).

    ``depth`` is how many records wait in it; every change is logged.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.depth = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.depth = len(self._lines(self.path.read_bytes())[0])
            if self.depth:
                log.warning("call records: %d record(s) of an earlier run wait in %s",
                            self.depth, self.path)

    def append(self, lines: list[bytes]) -> None:
        """Each line ends with a newline and holds no other. Raises OSError when the disk
        refuses them too."""
        data = b"".join(lines)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.lseek(descriptor, 0, os.SEEK_END) and not self._ends_a_line():
                data = b"\n" + data  # the last line was cut by a crash: it stays on its own
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self._depth(self.depth + len(lines))

    def waiting(self, limit: int) -> tuple[list[bytes], int]:
        """The first ``limit`` lines and where they end in the file, for ``drop``."""
        try:
            return self._lines(self.path.read_bytes(), limit)
        except FileNotFoundError:
            return [], 0

    def drop(self, end: int) -> None:
        """Forgets the records before byte ``end``, once the database holds them."""
        rest = self.path.read_bytes()[end:]
        fresh = self.path.with_name(self.path.name + ".new")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, rest)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(fresh, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._depth(len(self._lines(rest)[0]))

    def _depth(self, depth: int) -> None:
        if depth != self.depth:
            log.info("call records: spool depth %d (%s)", depth, self.path)
        self.depth = depth

    def _ends_a_line(self) -> bool:
        with self.path.open("rb") as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) == b"\n"

    @staticmethod
    def _lines(data: bytes, limit: int | None = None) -> tuple[list[bytes], int]:
        """Whole lines (a last line without its newline is being written or was cut), and the
        offset after the last one taken."""
        lines: list[bytes] = []
        end = 0
        while limit is None or len(lines) < limit:
            newline = data.find(b"\n", end)
            if newline < 0:
                break
            if line := data[end:newline].strip():
                lines.append(line)
            end = newline + 1
        return lines, end
