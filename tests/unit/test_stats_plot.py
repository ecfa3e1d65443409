from pathlib import Path

from ivr.stats_plot import plot


def test_the_intervals_are_drawn_one_campaign_a_panel(tmp_path: Path) -> None:
    rows = [{"campaign": campaign, "start": f"2026-12-07T{hour:02d}:00:00+00:00", "offered": 10, "answered": 8,
             "abandoned": 2, "service_level": None if hour == 9 else 75.0}
            for campaign in ("sales", "support") for hour in (9, 10, 11)]

    plot(rows, tmp_path / "day.png")

    assert (tmp_path / "day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
