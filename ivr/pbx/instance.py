"""One PBX instance inside the root: its folders, and its configuration rendered from dialplan/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.core.flow_tables import Agent
from ivr.flow_file import load_flow
from ivr.pbx.tls_cert import ensure_certificate
from ivr.secrets import ensure_secret, pbx_secrets_dir
from ivr.settings import FallbackSettings, Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "dialplan" / "asterisk"
SOUNDS = Path(__file__).resolve().parents[2] / "sounds"
FOLDERS = ("etc", "lib", "log", "run", "spool", "spool/recording", "cache", "moh")
"""Asterisk creates none of them; ARI recordings (callers' messages for callbacks) go to
``spool/recording``, and a recording asked for without it fails ("No such file or directory")."""
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Instance:
    root: Path
    name: str

    @property
    def home(self) -> str:
        """The instance folder as Asterisk sees it, inside the chroot."""
        return f"/srv/ivr/{self.name}"

    def host_path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def resolved_path(self, inner: str) -> Path:
        """``host_path`` with symbolic links followed as the chroot sees them: Debian's
        ``sounds/en`` is an absolute link, which on the host would point outside the root."""
        path = self.root
        for part in Path(inner).parts[1:]:
            path = path / part
            for _ in range(10):
                if not path.is_symlink():
                    break
                target = os.readlink(path)
                path = self.root / target.lstrip("/") if target.startswith("/") else path.parent / target
        return path

    @property
    def conf(self) -> str:
        return f"{self.home}/etc/asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.host_path(f"{self.home}/run/asterisk.pid")

    @property
    def log_file(self) -> Path:
        return self.host_path(f"{self.home}/log/messages.log")


def instance_for(settings: Settings) -> Instance:
    return Instance(root=settings.path(settings.pbx.root).resolve(), name=settings.pbx.instance)


def render(template: str, values: dict[str, str], name: str = "template") -> str:
    """Fill ``{{name}}`` placeholders; an unknown one is an error, never left in place.

    >>> render("bindport = {{port}}", {"port": "8088"})
    'bindport = 8088'
    """

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"{name}: no value for placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(fill, template)


def fallback_dialplan(fallback: FallbackSettings) -> str:
    if fallback.kind == "goto":
        return f" same => n,Goto({fallback.context},{fallback.exten},{fallback.priority})"
    if fallback.kind == "dial":
        return f" same => n,Dial({fallback.dial},{fallback.dial_timeout})\n same => n,Hangup()"
    if fallback.kind == "busy":
        return " same => n,Hangup(17)"  # user busy: SIP 486 Busy Here to a caller not yet answered
    return (
        f" same => n,Answer()\n same => n,Playback({fallback.sound})\n same => n,Hangup()"
    )


def agent_endpoints(agents: Mapping[str, Agent], secrets: Path, bind: str, proxy: str = "") -> str:
    """One PJSIP endpoint per agent, ``agent-<name>``: a fixed contact, or a registration
    with a generated password (in the secrets folder, ``agent-<name>-password``), or with a
    proxy (``pbx.proxy``) the contact ``agent-<name>`` at the proxy, where the phone registers
    (several PBXs reach one phone; the proxy looks it up); its media on
    the PBX's address and through Asterisk (see the loopback endpoint in pjsip.conf): bridged with
    a callback's customer on a trunk, the phone was otherwise re-INVITEd to the trunk's media
    address. Agents called through a trunk have none: the trunk's endpoint carries their calls."""
    sections = []
    for name, agent in sorted(agents.items()):
        if agent.trunk:
            continue
        endpoint = f"agent-{name}"
        aor = [f"[{endpoint}]", "type = aor", "max_contacts = 1"]
        if agent.phone == "register" and proxy:
            sections.append("\n".join([*aor, f"contact = sip:{endpoint}@{proxy}"]))
        elif agent.phone == "register":
            password = ensure_secret(secrets / f"{endpoint}-password")
            auth = [f"[{endpoint}]", "type = auth", "auth_type = userpass",
                    f"username = {endpoint}", f"password = {password}"]
            sections += ["\n".join(auth), "\n".join([*aor, "remove_existing = yes"])]
        else:
            sections.append("\n".join([*aor, f"contact = {agent.phone}"]))
        sections.append("\n".join([
            f"[{endpoint}]", "type = endpoint", "context = ivr-agents", "disallow = all",
            "allow = ulaw,alaw,gsm", "dtmf_mode = rfc4733", "rtp_symmetric = yes", "direct_media = no",
            f"aors = {endpoint}",
            f"media_address = {bind}", "bind_rtp_to_media_address = yes",
            *([f"auth = {endpoint}"] if agent.phone == "register" and not proxy else []),
            f"callerid = {agent.name or name} <{name}>"]))
    return "\n\n".join(sections)


def proxy_endpoint(proxy: str, bind: str) -> str:
    """The SIP proxy's endpoint: its calls enter the inbound flow like calls from this machine.

    >>> print(proxy_endpoint("", "127.0.0.2"))
    ; no SIP proxy (pbx.proxy)
    >>> print(proxy_endpoint("127.0.0.10:5060", "127.0.0.2").splitlines()[-3:])
    ['type = identify', 'endpoint = proxy', 'match = 127.0.0.10']
    """
    if not proxy:
        return "; no SIP proxy (pbx.proxy)"
    host = proxy.rsplit(":", 1)[0]
    return "\n".join([
        "[proxy]", "type = endpoint", "context = ivr-inbound", "disallow = all", "allow = ulaw,alaw,gsm",
        "dtmf_mode = rfc4733", "rtp_symmetric = yes", "direct_media = no",
        f"media_address = {bind}", "bind_rtp_to_media_address = yes", "",
        "[proxy]", "type = identify", "endpoint = proxy", f"match = {host}"])


class IncludeError(Exception):
    pass


def own_sections(settings: Settings, field: str = "pjsip_include") -> str:
    """The admin's own sections (``pbx.pjsip_include``, ``pbx.extensions_include``), as they
    wrote them: their file stays theirs, and is read again at every ``ivr pbx up``."""
    name = getattr(settings.pbx, field)
    if not name:
        return ""
    path = settings.path(name)
    try:
        return f"; {path}\n{path.read_text(encoding='utf-8')}"
    except (OSError, UnicodeDecodeError) as exc:
        raise IncludeError(f"pbx.{field}: cannot read {path}: {exc}") from exc


TLS_CERT, TLS_KEY = "etc/keys/http-cert.pem", "etc/keys/http-key.pem"


def http_tls(settings: Settings, instance: Instance) -> str:
    """http.conf's TLS listener, when ``pbx.tls`` is on.

    >>> print(http_tls(Settings(pbx={"tls": True, "tls_port": 8089}), Instance(Path("/r"), "demo")))
    tlsenable = yes
    tlsbindaddr = 127.0.0.1:8089
    tlscertfile = /srv/ivr/demo/etc/keys/http-cert.pem
    tlsprivatekey = /srv/ivr/demo/etc/keys/http-key.pem
    """
    if not settings.pbx.tls:
        return "tlsenable = no"
    return (f"tlsenable = yes\ntlsbindaddr = {settings.pbx.bind}:{settings.pbx.tls_port}\n"
            f"tlscertfile = {instance.home}/{TLS_CERT}\ntlsprivatekey = {instance.home}/{TLS_KEY}")


def _install_certificate(settings: Settings, instance: Instance) -> None:
    """The generated certificate, copied where Asterisk in its chroot can read it."""
    if not settings.pbx.tls:
        return
    cert, key = ensure_certificate(pbx_secrets_dir(settings), ["127.0.0.1", "localhost", settings.pbx.bind])
    for source, inner in ((cert, TLS_CERT), (key, TLS_KEY)):
        target = instance.host_path(f"{instance.home}/{inner}")
        target.parent.mkdir(mode=0o700, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o600)


def template_values(settings: Settings, instance: Instance) -> dict[str, str]:
    secrets = pbx_secrets_dir(settings)
    pbx = settings.pbx
    return {
        "instance": instance.name,
        "home": instance.home,
        "bind": pbx.bind,
        "http_port": str(pbx.http_port),
        "sip_port": str(pbx.sip_port),
        "ami_port": str(pbx.ami_port),
        "rtp_start": str(pbx.rtp_start),
        "rtp_end": str(pbx.rtp_end),
        "ari_user": settings.ari.user,
        "ari_apps": "&".join(pbx.apps or (settings.ari.app,)),
        "ari_password": ensure_secret(secrets / "ari-password"),
        "ami_password": ensure_secret(secrets / "ami-password"),
        "voicemail_pin": ensure_secret(secrets / "voicemail-pin", pin=True),
        "fallback": fallback_dialplan(pbx.fallback),
        "agent_endpoints": agent_endpoints(load_flow(settings.flow_path).agents, secrets, pbx.bind,
                                           pbx.proxy),
        "proxy_endpoint": proxy_endpoint(pbx.proxy, pbx.bind),
        "pjsip_include": own_sections(settings),
        "extensions_include": own_sections(settings, "extensions_include"),
        "agi_address": f"{settings.agi.bind}:{settings.agi.port}",
        "http_tls": http_tls(settings, instance),
    }


def write_config(settings: Settings, instance: Instance) -> None:
    """Lay out the instance folders and render every template into its etc/."""
    for folder in FOLDERS:
        instance.host_path(f"{instance.home}/{folder}").mkdir(parents=True, exist_ok=True)
    values = template_values(settings, instance)
    etc = instance.host_path(f"{instance.home}/etc")
    for template in sorted(TEMPLATES.glob("*.conf")):
        text = render(template.read_text(encoding="utf-8"), values, template.name)
        target = etc / template.name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o640)
    shutil.copy(instance.host_path("/etc/asterisk/indications.conf"), etc / "indications.conf")
    _install_sounds(instance)
    _install_certificate(settings, instance)
    # Asterisk refuses to run as root ("ASTdb initialization failed"); it runs as 'asterisk'.
    subprocess.run(["chroot", str(instance.root), "chown", "-R", "asterisk:asterisk", instance.home],
                   check=True)


def _install_sounds(instance: Instance) -> None:
    """Our prompts go where Asterisk looks for sounds: sounds/<lang>/ivr/ and the MOH folder."""
    for language in (p for p in SOUNDS.glob("*") if p.is_dir() and p.name != "moh"):
        target = instance.resolved_path(f"/usr/share/asterisk/sounds/{language.name}") / "ivr"
        shutil.copytree(language, target, dirs_exist_ok=True)
    if (SOUNDS / "moh").is_dir():
        shutil.copytree(SOUNDS / "moh", instance.host_path(f"{instance.home}/moh"), dirs_exist_ok=True)
