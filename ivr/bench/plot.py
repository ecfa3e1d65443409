"""The report's picture: last digit -> agent answered (p50 and p99) and CPU per call against
the number of concurrent calls, one colour per way, from the ramp runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt

COLOURS = {"dialplan": "tab:green", "agi": "tab:red", "app": "tab:blue"}


def series(runs: Sequence[dict[str, Any]], way: str, value: str, key: str) -> tuple[list[int], list[float]]:
    """(loads, values) of ``way``'s ramp runs where ``value`` was measured.

    >>> runs = [{"way": "app", "phase": "ramp", "concurrent": 10, "cpu": {"app": 2.0}},
    ...         {"way": "app", "phase": "ramp", "concurrent": 50, "cpu": {}},
    ...         {"way": "app", "phase": "slow-crm", "concurrent": 20, "cpu": {"app": 9.0}}]
    >>> series(runs, "app", "cpu", "app")
    ([10], [2.0])
    """
    points = sorted((r["concurrent"], r[value][key]) for r in runs
                    if r["way"] == way and r["phase"] == "ramp" and r[value]
                    and r[value].get(key) is not None)
    return [load for load, _ in points], [number for _, number in points]


def plot(runs: Sequence[dict[str, Any]], path: Path) -> None:
    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    for way, colour in COLOURS.items():
        for key, style in (("p99", "-"), ("p50", ":")):
            loads, values = series(runs, way, "digit_to_agent_answer_ms", key)
            latency.plot(loads, values, style, color=colour, marker="o", label=f"{way} {key}")
        for key, style in (("asterisk", "-"), ("app", "--")):
            loads, values = series(runs, way, "cpu_ms_per_call", key)
            if values:
                cpu.plot(loads, values, style, color=colour, marker="o",
                         label=f"{way}: {'Asterisk' if key == 'asterisk' else 'its own process(es)'}")
    latency.set(xlabel="concurrent calls", ylabel="ms (log)", yscale="log",
                title="last digit -> agent answered")
    cpu.set(xlabel="concurrent calls", ylabel="CPU ms per call", title="CPU per call")
    for axes in (latency, cpu):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
