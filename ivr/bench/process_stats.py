"""CPU time and memory of processes, and how busy the machine is, from Linux's /proc."""

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


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """The processes whose parent is ``pid`` (Kamailio's workers, forked by its main process)."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    """Each process's CPU seconds so far; one that ended is left out."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = Process(pid).cpu()
        except OSError:
            continue
    return seconds


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes of the second; one that started
    in between counts from zero (a database connection opened during a run).

    >>> cpu_between({1: 2.0, 2: 1.0}, {1: 2.5, 3: 0.25})
    0.75
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_ticks(stat: str) -> tuple[int, int]:
    """Busy and total time of all CPUs, in ticks, from the text of ``/proc/stat`` (idle and
    iowait are not busy).

    >>> machine_ticks("cpu  100 0 50 800 50 0 0 0 0 0\\ncpu0 50 0 25 400 25 0 0 0 0 0\\n")
    (150, 1000)
    """
    fields = [int(value) for value in stat.splitlines()[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How busy the machine's CPUs were between two readings of machine_ticks, 0 to 1.

    >>> busy_share((150, 1000), (600, 1600))
    0.75
    """
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def read_machine_ticks() -> tuple[int, int]:
    return machine_ticks(Path("/proc/stat").read_text())
