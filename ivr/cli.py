"""ivr: the front door and the call distribution of a contact center, on a self-hosted Asterisk 22
over ARI. It answers calls, plays prompts, collects digits, asks a CRM, and rings agents.

Every command takes --config FILE (before or after the command; default $IVR_CONFIG, else
./ivr.toml, else built-in defaults). Exit codes: 0 done, 1 failed, 2 configuration or credentials
wrong. Documentation: README.md and docs/ in the source tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable

from ivr import logs
from ivr.ari.events import AriUnreachable
from ivr.ari.rest import AriAuthError
from ivr.ari.tls import AriTlsError
from ivr.bench.command import add_bench_command
from ivr.cluster.command import add_cluster_command
from ivr.config_file import ConfigError
from ivr.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from ivr.flow_file import load_flow
from ivr.listen import PortTaken
from ivr.pbx import control
from ivr.pbx.instance import instance_for
from ivr.pbx.rootfs import is_built
from ivr.probe import CallReport, ProbeError, place_call
from ivr.report_commands import add_report_commands
from ivr.secrets import MissingSecret, pbx_secrets_dir
from ivr.settings import Settings, config_path, load_settings
from ivr.store.migrations import StoreUnavailable
from ivr.web.password_command import add_password_command


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except ConfigError as exc:
        return _invalid("configuration", exc)
    logs.setup(settings.log.level, settings.log.format)
    command: Callable[[Settings, argparse.Namespace], int] = args.command
    try:
        return command(settings, args)
    except ConfigError as exc:
        return _invalid(f"flow file {settings.flow_path}", exc)
    except (MissingSecret, AriAuthError, AriTlsError, AriUnreachable, ProbeError, control.PbxError,
            StoreUnavailable, PortTaken) as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, (MissingSecret, AriAuthError, AriTlsError)) else EXIT_FAILED


def _invalid(what: str, exc: ConfigError) -> int:
    print(f"ivr: invalid {what} ({len(exc.problems)} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_CONFIG


CONFIG_HELP = "settings file (default: $IVR_CONFIG, else ./ivr.toml)"


def _command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             help: str) -> argparse.ArgumentParser:
    """A subcommand whose help says what it does, taking --config after its name too (SUPPRESS:
    not given there, it leaves the one given before the name)."""
    parser = commands.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
    parser.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("--version", action="version", version=f"ivr {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = _command(commands, "run", "serve calls: the ARI application and the agents' API and "
                   "web page, until SIGTERM; SIGHUP reloads the flow file")
    run.set_defaults(command=_run)
    check = _command(commands, "check", "validate the configuration and the flow file, and exit")
    check.set_defaults(command=_check)
    reload = _command(commands, "reload", "check the flow file, then have `ivr run` apply it")
    reload.set_defaults(command=_reload)
    agi = _command(commands, "agi", "serve the flow file's identification nodes over FastAGI, "
                   "for classic dialplans")
    agi.set_defaults(command=_agi)

    pbx = _command(commands, "pbx", "the bundled Asterisk: up, down, status, cli")
    pbx_commands = pbx.add_subparsers(required=True, metavar="ACTION")
    for name, help_text, action in (
        ("up", "build the Asterisk root on first use, render the configuration, start Asterisk (or "
               "reload it) and wait for ARI", _pbx_up),
        ("down", "stop the bundled Asterisk", _pbx_down),
        ("status", "tell whether the bundled Asterisk runs and whether ARI answers", _pbx_status),
    ):
        _command(pbx_commands, name, help_text).set_defaults(command=action)
    pbx_commands.choices["status"].add_argument("--json", action="store_true", help="print one JSON object")
    cli = _command(pbx_commands, "cli", "run one Asterisk CLI command")
    cli.add_argument("asterisk_command")
    cli.set_defaults(command=_pbx_cli)
    add_cluster_command(commands, _command)

    call = _command(commands, "call", "place a test call into the running PBX")
    call.add_argument("exten", help="the number dialled (DID), e.g. 100")
    call.add_argument("--dtmf", default="", help="digits the caller presses; 'w' waits 0.5 s")
    call.add_argument("--send-at", default="prompt-end",
                      choices=["answer", "prompt-start", "prompt-end"],
                      help="when to press them (prompt-start tests barge-in)")
    call.add_argument("--caller-id", default="ivr-call <100>")
    call.add_argument("--context", default="ivr-inbound", help="the dialplan context to call into")
    call.add_argument("--timeout", type=float, default=60.0, help="give up after this many s")
    call.add_argument("--speak", default="", help="media the caller plays from the answer on, e.g. "
                      "tone:440 (endless) for a voicemail box to record")
    call.add_argument("--json", action="store_true", help="print one JSON object")
    call.set_defaults(command=_call)

    add_bench_command(commands, _command)
    add_report_commands(commands, _command)
    add_password_command(commands, _command)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ivr")
    except PackageNotFoundError:
        return "(not installed)"


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.runner import serve

    asyncio.run(serve(settings))
    return EXIT_OK


def _check(settings: Settings, args: argparse.Namespace) -> int:
    flow = load_flow(settings.flow_path)
    print(f"configuration OK ({config_path(args.config) or 'built-in defaults'})")
    print(f"flow OK ({settings.flow_path}: {len(flow.nodes)} node(s), "
          f"{len(flow.entries)} entry number(s))")
    for gap in flow.pull_gaps(texting=bool(settings.sms.gateway)):
        print(f"warning: {gap}")
    return EXIT_OK


def _reload(settings: Settings, args: argparse.Namespace) -> int:
    load_flow(settings.flow_path)
    try:
        pid = int(settings.pid_path.read_text())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"ivr: flow OK, but no running `ivr run` to reload ({settings.pid_path}: {exc})",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"flow OK; `ivr run` (pid {pid}) reloads {settings.flow_path} for new calls")
    return EXIT_OK


def _agi(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.agi.identify import serve_agi

    asyncio.run(serve_agi(settings))
    return EXIT_OK


def _pbx_up(settings: Settings, args: argparse.Namespace) -> int:
    log_dir = settings.state_path / "pbx" / settings.pbx.instance
    built = is_built(instance_for(settings).root)
    print("ivr pbx: starting..." if built else
          "ivr pbx: starting (the first start builds the Asterisk root, about a minute)...", file=sys.stderr)
    instance = control.up(settings, log_dir, lambda line: print(f"ivr pbx: {line}", file=sys.stderr,
                                                                 flush=True))
    secrets = pbx_secrets_dir(settings)
    print(f"PBX '{instance.name}' is up: ARI at {settings.ari_url}/ari (user {settings.ari.user}), "
          f"SIP on {settings.pbx.bind}:{settings.pbx.sip_port}")
    print(f"generated passwords: {secrets}/ari-password, {secrets}/ami-password")
    print(f"Asterisk log: {instance.log_file}")
    return EXIT_OK


def _pbx_down(settings: Settings, args: argparse.Namespace) -> int:
    stopped = control.down(settings)
    print(f"PBX '{settings.pbx.instance}' {'stopped' if stopped else 'was not running'}")
    return EXIT_OK


def _pbx_status(settings: Settings, args: argparse.Namespace) -> int:
    status = control.status(settings)
    state = f"running (pid {status.pid})" if status.running else "stopped"
    if args.json:
        print(json.dumps({"instance": settings.pbx.instance, **status.__dict__}))
    else:
        print(f"PBX '{settings.pbx.instance}': {state}; ARI {status.ari}")
    return EXIT_OK if status.running else EXIT_FAILED


def _pbx_cli(settings: Settings, args: argparse.Namespace) -> int:
    code, output = control.cli(settings, args.asterisk_command)
    print(output, end="")
    return code


def _call(settings: Settings, args: argparse.Namespace) -> int:
    logging.getLogger("ivr.ari").setLevel(logging.WARNING)
    report = asyncio.run(place_call(settings, args.exten, args.dtmf, args.caller_id,
                                    args.timeout, args.send_at, args.context, args.speak))
    print(json.dumps(report.as_dict()) if args.json else _describe(report))
    return EXIT_OK if report.answered and not report.timed_out else EXIT_FAILED


def _describe(report: CallReport) -> str:
    lines = [
        f"call to {report.exten}: "
        + (f"answered after {report.answer_seconds} s" if report.answered else "not answered"),
        f"prompts played: {', '.join(report.prompts) or 'none'}",
        f"digits sent: {report.dtmf_sent or 'none'}; received by the app: "
        f"{report.digits_received or 'none'}",
    ]
    lines += [f"variable {name} = {value}" for name, value in report.variables.items()]
    lines += [f"dialplan: {step}" for step in report.dialplan]
    if report.connected_to:
        lines.append(f"connected to: {', '.join(report.connected_to)}")
    ending = "timed out, hung up by ivr call" if report.timed_out else (
        f"hung up: cause {report.hangup_cause} ({report.hangup_cause_text})")
    lines.append(f"{ending}, after {report.duration_seconds} s")
    return "\n".join(lines)
