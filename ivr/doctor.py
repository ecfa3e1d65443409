"""`ivr doctor`: the deployment's weak points, each with how to fix it.

The checks are pure functions of what was gathered (settings, Asterisk's answers), so each is
tested without an Asterisk; ``gather`` does the asking.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import string
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import urlsplit

from ivr.ari.tls import AriTlsError
from ivr.core.flow import Flow
from ivr.pbx import control
from ivr.secrets import MissingSecret, ari_password
from ivr.settings import Settings

Status = Literal["ok", "problem", "unchecked"]
BASE_CONTEXTS = ("ivr-inbound", "ivr-stasis", "ivr-fallback")
MIN_VERSION = 22
MIN_PASSWORD = 16
RANDOM_PASSWORD = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def is_loopback(host: str) -> bool:
    """
    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "pbx.example")]
    [True, True, True, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ari_transport(url: str) -> Finding:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return Finding("ari transport", "ok", f"ARI over TLS ({url})")
    if is_loopback(host):
        return Finding("ari transport", "ok", f"ARI on the loopback ({url}): never on the network")
    return Finding("ari transport", "problem",
                   f"ARI at {url} is plain HTTP over the network: its password and every call's "
                   f"events can be read on the way",
                   "serve ARI over TLS (http.conf tlsenable, tlsbindaddr) and set ari.url = "
                   "https://...; see docs/configuration.md#ari-over-tls")


def password_strength(password: str) -> Finding:
    """A password worth its name: long, varied, of more than one kind of character.

    >>> password_strength("secret").status, password_strength("x" * 20).status
    ('problem', 'problem')
    >>> password_strength("kq3L-9vTzr_2mWbX8e4N").status
    'ok'
    """
    kinds = sum(any(c in group for c in password) for group in
                (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation))
    if len(password) >= MIN_PASSWORD and len(set(password)) >= 8 and kinds >= 2:
        return Finding("ari password", "ok", f"ARI password of {len(password)} characters")
    return Finding("ari password", "problem",
                   f"the ARI password is weak ({len(password)} characters, {len(set(password))} "
                   f"different): it can be guessed", f"set a random one of at least {MIN_PASSWORD} "
                   f"characters in ari.conf and IVR_ARI__PASSWORD, e.g. {RANDOM_PASSWORD}")


def ami_exposure(where: str, exposed: bool | None) -> Finding:
    if exposed is None:
        return Finding("ami exposure", "unchecked", f"AMI at {where}: not checked")
    if not exposed:
        return Finding("ami exposure", "ok", f"AMI at {where}: not reachable beyond the loopback")
    return Finding("ami exposure", "problem",
                   f"AMI at {where} is reachable over the network: with its password anyone "
                   f"there can originate calls and run CLI commands",
                   "bind it to 127.0.0.1 (manager.conf bindaddr; the bundled PBX: pbx.bind) or "
                   "allow only known addresses (permit/deny in manager.conf, a firewall)")


def fastagi_bind(bind: str, port: int) -> Finding:
    if is_loopback(bind):
        return Finding("fastagi bind", "ok", f"ivr agi listens on {bind}:{port} only")
    return Finding("fastagi bind", "problem",
                   f"ivr agi listens on {bind}:{port}: FastAGI has no authentication, anyone "
                   f"reaching it can run the identification nodes (and the CRM lookups)",
                   "set agi.bind = 127.0.0.1 with Asterisk on the same machine; otherwise allow "
                   "only Asterisk's address in a firewall")


def asterisk_version(version: str | None, error: str = "") -> Finding:
    """
    >>> asterisk_version("22.5.2").status, asterisk_version("20.1.0").status
    ('ok', 'problem')
    """
    if version is None:
        return Finding("asterisk version", "problem", f"ARI does not answer: {error}",
                       "start Asterisk (ivr pbx up for the bundled one) and check ari.url, "
                       "ari.user and the password")
    match = re.match(r"(\d+)\.", version)
    if match and int(match.group(1)) >= MIN_VERSION:
        return Finding("asterisk version", "ok", f"Asterisk {version}")
    return Finding("asterisk version", "problem",
                   f"Asterisk {version}: ivr needs {MIN_VERSION} or later",
                   f"upgrade Asterisk to {MIN_VERSION} (an LTS release)")


def needed_contexts(flow: Flow) -> list[str]:
    """The shipped dialplan's contexts the flow file's nodes hand calls to."""
    kinds = {destination.kind for destination in flow.nodes}
    extra = {"campaign": "ivr-campaign", "voicemail": "ivr-voicemail", "external": "ivr-dial"}
    return [*BASE_CONTEXTS, *(context for kind, context in extra.items() if kind in kinds)]


def context_present(output: str) -> bool:
    """Whether ``dialplan show CONTEXT`` found it.

    >>> context_present("[ Context 'ivr-inbound' created by 'pbx_config' ]\\n  '_X.' => 1. NoOp()")
    True
    >>> context_present("There is no existence of 'ivr-x' context")
    False
    """
    return "created by" in output and "There is no existence" not in output


def dialplan(shown: dict[str, str] | None, how: str) -> Finding:
    if shown is None:
        return Finding("dialplan", "unchecked", f"the dialplan was not checked ({how})",
                       "on the Asterisk machine: asterisk -rx 'dialplan show ivr-inbound' (and "
                       "ivr-stasis, ivr-fallback)")
    missing = [context for context, output in shown.items() if not context_present(output)]
    if not missing:
        return Finding("dialplan", "ok", f"contexts present ({how}): {', '.join(shown)}")
    return Finding("dialplan", "problem", f"contexts missing ({how}): {', '.join(missing)}",
                   "copy them from dialplan/asterisk/extensions.conf into your extensions.conf, "
                   "then: asterisk -rx 'dialplan reload'")


def failed(findings: Iterable[Finding]) -> bool:
    return any(finding.status == "problem" for finding in findings)


def text(findings: Iterable[Finding]) -> str:
    lines = []
    for finding in findings:
        lines.append(f"{finding.status:<9} {finding.check}: {finding.message}")
        if finding.fix:
            lines.append(f"{'':<9} fix: {finding.fix}")
    return "\n".join(lines)


def gather(settings: Settings, flow: Flow) -> list[Finding]:
    """Ask the configured Asterisk and this machine, and check what they say."""
    bundled = not settings.ari.url
    findings = [ari_transport(settings.ari_url)]
    try:
        password: str | None = ari_password(settings)
    except MissingSecret as exc:
        password = None
        findings.append(Finding("ari password", "problem", str(exc), "set IVR_ARI__PASSWORD"))
    if password is not None:
        findings.append(password_strength(password))
    ami_host = settings.pbx.bind if bundled else urlsplit(settings.ari_url).hostname or ""
    findings.append(ami_exposure(f"{ami_host}:{settings.pbx.ami_port}", _ami_exposed(ami_host, settings,
                                                                                     bundled)))
    findings.append(fastagi_bind(settings.agi.bind, settings.agi.port))
    try:
        version: str | None = str(control.asterisk_info(settings)["system"]["version"])
        error = ""
    except (OSError, ValueError, KeyError, AriTlsError, MissingSecret) as exc:
        version, error = None, str(exc)
    findings.append(asterisk_version(version, error))
    findings.append(dialplan(*_dialplan_shown(settings, needed_contexts(flow), bundled)))
    return findings


def _ami_exposed(host: str, settings: Settings, bundled: bool) -> bool | None:
    """The bundled PBX's AMI binds pbx.bind; another Asterisk's is tried from here, on the
    ARI host at pbx.ami_port: answering across the network is what matters."""
    if bundled or is_loopback(host):
        return not is_loopback(host)
    try:
        with socket.create_connection((host, settings.pbx.ami_port), timeout=2):
            return True
    except OSError:
        return False


def _dialplan_shown(settings: Settings, contexts: list[str],
                    bundled: bool) -> tuple[dict[str, str] | None, str]:
    if bundled:
        try:
            return {context: control.cli(settings, f"dialplan show {context}")[1]
                    for context in contexts}, "the bundled PBX's CLI"
        except control.PbxError as exc:
            return None, str(exc)
    asterisk = shutil.which("asterisk")
    host = urlsplit(settings.ari_url).hostname or ""
    if asterisk and is_loopback(host):
        shown = {}
        for context in contexts:
            result = subprocess.run([asterisk, "-rx", f"dialplan show {context}"], capture_output=True,
                                    text=True, timeout=30, check=False)
            shown[context] = result.stdout + result.stderr
        return shown, "asterisk -rx on this machine"
    return None, "ARI cannot list the dialplan, and Asterisk's CLI is not on this machine"
