"""Starting, stopping and talking to a bundled PBX instance."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.ari.tls import AriTlsError, ari_tls
from ivr.pbx.instance import IncludeError, Instance, instance_for, write_config
from ivr.pbx.rootfs import ASTERISK, Progress, RootError, ensure_root
from ivr.pbx.tls_cert import CertificateError
from ivr.pbx.transports import rendered_transports
from ivr.secrets import ari_password
from ivr.settings import Settings

log = logging.getLogger("ivr.pbx")


class PbxError(Exception):
    pass


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    ari: str


def asterisk_command(instance: Instance, *args: str) -> list[str]:
    return ["chroot", str(instance.root), ASTERISK, "-C", instance.conf, *args]


def running_pid(instance: Instance) -> int | None:
    try:
        pid = int(instance.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"asterisk" in cmdline and instance.conf.encode() in cmdline else None


def up(settings: Settings, log_dir: Path, progress: Progress = lambda line: None) -> Instance:
    """Build the root if needed, render the configuration, start Asterisk, wait for ARI.
    A running instance gets the configuration rendered again and reloaded (new agents, say)."""
    instance = instance_for(settings)
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        ensure_root(instance.root, settings.pbx.mirror, log_dir / "debootstrap.log", progress)
    except RootError as exc:
        raise PbxError(str(exc)) from exc
    pjsip_conf = instance.host_path(f"{instance.home}/etc/pjsip.conf")
    try:
        running = running_pid(instance) is not None
        transports = rendered_transports(pjsip_conf)
        write_config(settings, instance)
    except (IncludeError, CertificateError) as exc:
        raise PbxError(str(exc)) from exc
    if running and rendered_transports(pjsip_conf) != transports:
        log.warning("pbx: the SIP transport changed (pbx.sip_port or pbx.bind), which Asterisk "
                    "cannot reload: restarting it (its calls are cut)")
        down(settings)
        running = False
    if running:
        code, output = cli(settings, "core reload")
        if code != 0:
            raise PbxError(f"the running PBX did not reload its configuration: {output.strip()}")
        wait_for_ari(settings, instance)
        return instance
    _refuse_taken_ports(settings)
    result = subprocess.run(
        asterisk_command(instance, "-U", "asterisk", "-G", "asterisk"),
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise PbxError(f"asterisk did not start ({result.returncode}): {result.stderr.strip()}")
    try:
        wait_for_ari(settings, instance)
    except PbxError:
        down(settings)
        raise
    return instance


def _refuse_taken_ports(settings: Settings) -> None:
    pbx = settings.pbx
    for name, port in (("http_port", pbx.http_port), ("ami_port", pbx.ami_port)):
        with socket.socket() as probe:
            if probe.connect_ex((pbx.bind, port)) == 0:
                raise PbxError(
                    f"pbx.{name} {port} on {pbx.bind} is already in use by another program; "
                    f"stop it or choose another port (IVR_PBX__{name.upper()})"
                )


def wait_for_ari(settings: Settings, instance: Instance) -> None:
    url = f"{settings.ari_url}/ari/asterisk/info"
    deadline = time.monotonic() + settings.pbx.startup_timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            asterisk_info(settings)
            return
        except AriTlsError as exc:
            raise PbxError(str(exc)) from exc
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if running_pid(instance) is None and not _starting(instance):
            break
        time.sleep(0.1)
    raise PbxError(
        f"ARI did not answer at {url} within {settings.pbx.startup_timeout:g} s "
        f"(last try: {last}).\nLast lines of {instance.log_file}:\n{log_tail(instance)}"
    )


def asterisk_info(settings: Settings, timeout: float = 2.0) -> dict[str, Any]:
    """``GET /ari/asterisk/info``, synchronously (for the commands that are not ``ivr run``);
    OSError when ARI does not answer 200 (urllib's HTTPError is one), AriTlsError when its
    certificate is refused."""
    tls = ari_tls(settings)
    request = urllib.request.Request(f"{settings.ari_url}/ari/asterisk/info")
    credentials = f"{settings.ari.user}:{ari_password(settings)}".encode()
    request.add_header("Authorization", f"Basic {base64.b64encode(credentials).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=timeout,
                                    context=tls.context if tls else None) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.URLError as exc:
        if tls and isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise tls.refused(exc.reason, settings.ari_url) from exc
        raise


def _starting(instance: Instance) -> bool:
    """Asterisk writes its pid file a moment after forking; do not give up before that."""
    return not instance.pid_file.exists()


def log_tail(instance: Instance, lines: int = 15) -> str:
    try:
        text = instance.log_file.read_text(errors="replace")
    except OSError:
        return "(no log yet)"
    return "".join(text.splitlines(True)[-lines:])


def down(settings: Settings, timeout: float = 10.0) -> bool:
    """Stop the instance; False if it was not running."""
    instance = instance_for(settings)
    pid = running_pid(instance)
    if pid is None:
        return False
    try:
        subprocess.run(asterisk_command(instance, "-rx", "core stop now"),
                       capture_output=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("pbx: 'core stop now' did not return within %.0f s; killing Asterisk", timeout)
    if not _wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, timeout)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.05)
    return False


def status(settings: Settings) -> Status:
    instance = instance_for(settings)
    pid = running_pid(instance)
    ari = "not running"
    if pid is not None:
        try:
            ari = f"answering, Asterisk {asterisk_info(settings)['system']['version']}"
        except (OSError, ValueError, KeyError, AriTlsError) as exc:
            ari = f"not answering ({exc})"
    return Status(running=pid is not None, pid=pid, ari=ari)


def cli(settings: Settings, command: str) -> tuple[int, str]:
    instance = instance_for(settings)
    if running_pid(instance) is None:
        raise PbxError(f"the PBX instance '{instance.name}' is not running: run 'ivr pbx up'")
    result = subprocess.run(asterisk_command(instance, "-rx", command),
                            capture_output=True, text=True, check=False, timeout=30)
    return result.returncode, result.stdout + result.stderr
