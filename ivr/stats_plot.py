"""`ivr stats --plot FILE`: a campaign's intervals as a picture, calls offered, answered and
abandoned as bars and the service level as a line. Needs matplotlib (`pip install ivr[bench]`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class PlotUnavailable(Exception):
    pass


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'ivr[bench]'") from None
    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    campaigns = sorted({row["campaign"] for row in rows})
    figure, axes = plt.subplots(len(campaigns) or 1, 1, figsize=(12, 3.5 * max(1, len(campaigns))),
                                squeeze=False)
    for axis, campaign in zip(axes[:, 0], campaigns, strict=False):
        mine = sorted((row for row in rows if row["campaign"] == campaign), key=lambda row: row["start"])
        starts = [row["start"][5:16].replace("T", " ") for row in mine]
        places = range(len(mine))
        width = 0.27
        for offset, key, colour in ((-width, "offered", "tab:gray"), (0.0, "answered", "tab:green"),
                                    (width, "abandoned", "tab:red")):
            axis.bar([place + offset for place in places], [row[key] for row in mine], width, label=key,
                     color=colour)
        axis.set_xticks(list(places), starts, rotation=45, ha="right", fontsize=8)
        axis.set_ylabel("calls")
        axis.set_title(campaign)
        level = axis.twinx()
        levels = [float("nan") if row["service_level"] is None else row["service_level"] for row in mine]
        level.plot(list(places), levels, "o-", color="tab:blue", label="service level %")
        level.set_ylim(0, 105)
        level.set_ylabel("service level %")
        handles = axis.get_legend_handles_labels()[0] + level.get_legend_handles_labels()[0]
        axis.legend(handles=handles, loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
