"""What the report says of the machine: CPU, memory, system, versions, and how busy it was."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def cpu_model(cpuinfo: str) -> str:
    """
    >>> cpu_model("processor\\t: 0\\nmodel name\\t: AMD EPYC 7B13\\n")
    'AMD EPYC 7B13'
    """
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


def other_asterisks(own_pid: int) -> int:
    """Asterisk processes on the machine besides ours: another PBX sharing the cores."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own_pid:
            try:
                if (entry / "comm").read_text().strip() == "asterisk":
                    count += 1
            except OSError:
                continue
    return count


def basics() -> dict[str, Any]:
    """The machine, the versions of Python and SIPp, and how busy it is now."""
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    sipp = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False).stdout
    return {"cpu": cpu_model(Path("/proc/cpuinfo").read_text()), "cores": os.cpu_count(),
            "memory_gb": round(memory_kb / 2**20, 1), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "sipp": next((line.strip(" .") for line in sipp.splitlines() if "SIPp" in line), "unknown"),
            "load_average_at_start": os.getloadavg()}


def describe(asterisk_version: str, own_asterisk: int) -> dict[str, Any]:
    return {**basics(), "asterisk": asterisk_version.partition(" built ")[0].strip(),
            "other_asterisk_processes": other_asterisks(own_asterisk)}
