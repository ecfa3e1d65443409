"""`ivr password NAME`: sets the web page password of an agent or of the supervisor (stored by
ivr.web.passwords, checked at sign-in by ivr.web.pages)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ivr.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from ivr.flow_file import load_flow
from ivr.settings import Settings


def add_password_command(commands: Any, make: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    """``make(commands, name, help)`` adds one subcommand (ivr.cli._command)."""
    password = make(commands, "password", "set the web page password of an agent or the supervisor")
    password.add_argument("who", metavar="NAME", help="an agent's id, or supervisor")
    password.add_argument("--stdin", action="store_true", help="read the password from standard input")
    password.set_defaults(command=_password)


def _password(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from ivr.web import passwords

    who = passwords.SUPERVISOR if args.who == "supervisor" else args.who
    flow = load_flow(settings.flow_path)
    if who != passwords.SUPERVISOR and who not in flow.agents:
        print(f"ivr: no agent {args.who!r} in {settings.flow_path} (its agents: "
              f"{', '.join(flow.agents) or 'none'}; or supervisor)", file=sys.stderr)
        return EXIT_CONFIG
    if args.stdin:
        given = sys.stdin.readline().rstrip("\n")
    else:
        given = getpass.getpass(f"new password for {args.who}: ")
        if getpass.getpass("again: ") != given:
            print("ivr: the two passwords differ; nothing was changed", file=sys.stderr)
            return EXIT_FAILED
    try:
        path = passwords.store(settings.state_path / "api", who, given)
    except passwords.WeakPassword as exc:
        print(f"ivr: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_FAILED
    print(f"password of {args.who} set ({path}); it signs in at {settings.api.url}/")
    return EXIT_OK
