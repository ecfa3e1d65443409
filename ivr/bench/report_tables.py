"""The tables of the benchmark's page, each from the runs of every repetition or from their
medians (repetitions.by_load)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ivr.bench.fallback import breakdown
from ivr.bench.goals import Run, find, find_level, latency_load
from ivr.bench.limits import limit, overload_limit
from ivr.bench.plan import WAYS
from ivr.bench.repetitions import by_load


def _figure(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _ms(value: dict[str, float] | None, key: str) -> str:
    return "—" if value is None else _figure(value[key])


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}"


def _spread(run: Run, name: str, show: Callable[[float], str] = lambda v: f"{v:.1f}") -> str:
    """`` (low-high)`` of a figure over the repetitions, when there were several (and not all
    of them 0).

    >>> _spread({"repetitions": 3, "spread": {"cpu_app": (4.0, 6.5)}}, "cpu_app")
    ' (4.0-6.5)'
    >>> _spread({"repetitions": 1, "spread": {"cpu_app": (4.0, 4.0)}}, "cpu_app")
    ''
    >>> _spread({"repetitions": 3, "spread": {"failed": (0, 0)}}, "failed")
    ''
    >>> _spread({"repetitions": 3, "spread": {"p99": (4.2, 12.5)}}, "p99", _figure)
    ' (4.2-12)'
    """
    low_high = run["spread"].get(name)
    if run["repetitions"] < 2 or low_high is None or low_high == (0, 0):
        return ""
    low, high = low_high
    return f" ({show(low)}-{show(high)})"


def run_rows(medians: Sequence[Run]) -> list[str]:
    """Each load of each way: the medians of its repetitions, with the spread of the key figures."""
    rows = ["| way | phase | calls | rate /s | CRM s | runs | completed (median) | failures (all runs) "
            "| digit→agent p50 / p95 / p99 / max ms | digit→bridge p99 ms | INVITE→answer p50 / p99 ms "
            "| CPU ms/call app / Asterisk | app MB/call | loop lag p99 ms | machine CPU % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in medians:
        latency = r["digit_to_agent_answer_ms"]
        cpu = r["cpu_ms_per_call"]
        failures = ", ".join(f"{count} {why}" for why, count in r["failures"].items()) or "—"
        rows.append(
            f"| {r['way']} | {r['phase']} | {r['concurrent']} | {r['rate']:g} | {r['crm_latency_s']:g} "
            f"| {r['repetitions']} | {r['completed']}/{r['attempted']} "
            f"| {failures}{_spread(r, 'failed', str)} "
            f"| {' / '.join(_ms(latency, k) for k in ('p50', 'p95', 'p99', 'max'))}"
            f"{_spread(r, 'digit_to_agent_p99', _figure)} "
            f"| {_ms(r['digit_to_bridge_ms'], 'p99')} "
            f"| {_ms(r['invite_to_answer_ms'], 'p50')} / {_ms(r['invite_to_answer_ms'], 'p99')} "
            f"| {_number(cpu.get('app'))}{_spread(r, 'cpu_app')} / {_number(cpu['asterisk'])}"
            f"{_spread(r, 'cpu_asterisk')} "
            f"| {_number(r['mb_per_concurrent_call'].get('app'), 2)} | {_ms(r['loop_lag_ms'], 'p99')} "
            f"| {_percent(r.get('machine_busy'))} |")
    return rows


def _p99(run: Run | None) -> float | None:
    return None if run is None or run["digit_to_agent_answer_ms"] is None else (
        run["digit_to_agent_answer_ms"]["p99"])


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "—" if ours is None or not theirs else f"{ours / theirs:.2f}x"


def ratio_rows(medians: Sequence[Run]) -> list[str]:
    """At each ramp load where the app ran: its p99 and CPU against the baselines'."""
    rows = ["| calls | app p99 / dialplan p99 | app p99 / AGI p99 | app CPU / Asterisk CPU "
            "| Asterisk CPU, app / dialplan |", "|---|---|---|---|---|"]
    for level in sorted({r["concurrent"] for r in medians if r["phase"] == "ramp"}):
        app = find(medians, "app", "ramp", level)
        if app is None or _p99(app) is None:
            continue
        dialplan, agi = (find(medians, way, "ramp", level) for way in ("dialplan", "agi"))
        cpu = app["cpu_ms_per_call"]
        dialplan_cpu = None if dialplan is None else dialplan["cpu_ms_per_call"]["asterisk"]
        cells = [_ratio(_p99(app), _p99(dialplan)), _ratio(_p99(app), _p99(agi)),
                 _ratio(cpu["app"], cpu["asterisk"]), _ratio(cpu["asterisk"], dialplan_cpu)]
        rows.append(f"| {level} | {' | '.join(cells)} |")
    return rows


def limit_rows(runs: Sequence[Run]) -> list[str]:
    """Each way's limits, on the ramp of concurrent calls and on the call-rate ramp, and what
    failed first above each."""
    rows = ["| way | most concurrent calls, no failure in any repetition | above it "
            "| most calls started per second, no failure and p99 within the bound | above it |",
            "|---|---|---|---|---|"]
    for way in WAYS:
        ramp, rate = limit(runs, way), limit(runs, way, "rate")
        if ramp is None and rate is None:
            continue
        cells: list[str] = [way]
        for found in (ramp, rate):
            cells += ["—", "—"] if found is None else [str(found.level), found.cause()]
        rows.append(f"| {' | '.join(cells)} |")
    return rows


def _p99_at_limit(runs: Sequence[Run], way: str) -> float | None:
    """``way``'s p99 at its limit of the kind the overload doubled: the median of its repetitions."""
    basis = overload_limit(runs)
    found = limit(runs, way, basis.phase if basis is not None else "ramp")
    return None if found is None else _p99(find_level(by_load(runs), way, found.phase, found.level))


def overload_rows(runs: Sequence[Run]) -> list[str]:
    """Each overload run: where its callers went, and the admitted calls' p99 against the way's
    p99 at its limit."""
    rows = ["| way | repetition | calls | completed with an agent | sent to the fallback "
            "| refused (SIP error) | lost | digit→agent p99 ms (admitted) | / p99 at the way's limit "
            "| machine CPU % |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in runs if r["phase"] == "overload"):
        counts = breakdown(r)
        reference = _p99_at_limit(runs, r["way"])
        against = "—" if reference is None else f"{_ratio(_p99(r), reference)} ({reference:.1f} ms)"
        rows.append(f"| {r['way']} | {r['repetition']} | {r['concurrent']} | {counts['completed']} "
                    f"| {counts['fallback']} | {counts['refused']} | {counts['lost']} "
                    f"| {_ms(r['digit_to_agent_answer_ms'], 'p99')} | {against} "
                    f"| {_percent(r['machine_busy'])} |")
    return rows


def per_call_rows(medians: Sequence[Run]) -> list[str]:
    """The app's ARI requests and events per call at each load, and AMI events per call of each
    way at the same load."""
    rows = ["| phase | calls | CRM s | app: ARI requests / call | app: ARI events / call | app: turned away "
            "| AMI events / call: app / dialplan / AGI |", "|---|---|---|---|---|---|---|"]
    for r in (r for r in medians if r["way"] == "app" and r.get("app_per_call")):
        ari = r["app_per_call"]
        same = [find(medians, way, r["phase"], r["concurrent"], r["crm_latency_s"])
                for way in ("app", "dialplan", "agi")]
        ami = " / ".join(_number(None if o is None else o["ami_events_per_call"]) for o in same)
        rows.append(f"| {r['phase']} | {r['concurrent']} | {r['crm_latency_s']:g} "
                    f"| {ari['ari_requests']:.1f} | {ari['ari_events']:.1f} | {ari['turned_away']} | {ami} |")
    return rows


def requests_by_resource(medians: Sequence[Run]) -> list[str]:
    """A sentence: the app's requests per call by method and resource, at the latency load."""
    app = find(medians, "app", "ramp", latency_load(medians))
    if app is None or not app.get("app_per_call"):
        return []
    by = sorted(app["app_per_call"]["ari_requests_by"].items(), key=lambda item: -item[1])
    return [f"At {app['concurrent']} calls, the app's ARI requests per call by method and resource: "
            + ", ".join(f"`{name}` {count:.1f}" for name, count in by) + ".", ""]
