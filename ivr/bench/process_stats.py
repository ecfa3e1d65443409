"""CPU time and memory of a process, from Linux's /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat: str, ticks: int = TICKS) -> float:
    """User and system time of the process and of its children it has waited for, from the text
    of ``/proc/PID/stat`` (fields 14-17; the name in parentheses may hold spaces).

    >>> cpu_seconds("42 (a b) S 1 1 1 0 -1 0 0 0 0 0 150 50 30 20 20 0 1 0 5 6 7", ticks=100)
    2.5
    """
    fields = stat.rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:15]) / ticks


def rss_bytes(status: str) -> int:
    """Resident memory from the text of ``/proc/PID/status``.

    >>> rss_bytes("Name:\\tpython\\nVmRSS:\\t   51200 kB\\n")
    52428800
    """
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no VmRSS line")


@dataclass(frozen=True)
class Process:
    pid: int

    def cpu(self) -> float:
        return cpu_seconds(Path(f"/proc/{self.pid}/stat").read_text())

    def rss(self) -> int:
        return rss_bytes(Path(f"/proc/{self.pid}/status").read_text())
