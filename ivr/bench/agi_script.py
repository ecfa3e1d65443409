"""The per-call AGI script of the benchmark's AGI way, as OMniLeads runs one: a new Python
process per call, reading the AGI environment on stdin, asking the CRM for the customer id given
as the first argument, and setting BENCH_DESTINATION. Standard library only, so its start-up is
what any such script pays at least. Usage: ``python agi_script.py CRM_URL``."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def agi_environment(lines: list[str]) -> dict[str, str]:
    """``agi_name: value`` lines up to the first empty one.

    >>> agi_environment(["agi_channel: PJSIP/x-1", "agi_arg_1: 1357", ""])
    {'agi_channel': 'PJSIP/x-1', 'agi_arg_1': '1357'}
    """
    environment = {}
    for line in lines:
        if not line.strip():
            break
        name, _, value = line.partition(":")
        environment[name.strip()] = value.strip()
    return environment


def destination(url: str, customer_id: str) -> str:
    body = urllib.parse.urlencode({"idContact": customer_id}).encode()
    try:
        with urllib.request.urlopen(url, data=body, timeout=3) as response:
            return str(json.loads(response.read()).get("destination", ""))
    except (urllib.error.URLError, OSError, ValueError):
        return ""


def main() -> None:
    lines = []
    for line in sys.stdin:
        lines.append(line)
        if not line.strip():
            break
    customer_id = agi_environment(lines).get("agi_arg_1", "")
    answer = destination(sys.argv[1], customer_id) if customer_id.isdigit() else ""
    valid = answer if answer.replace(",", "").isdigit() else ""
    sys.stdout.write(f'SET VARIABLE BENCH_DESTINATION "{valid}"\n')
    sys.stdout.flush()
    sys.stdin.readline()


if __name__ == "__main__":
    main()
