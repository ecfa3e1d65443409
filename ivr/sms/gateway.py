"""What every SMS gateway offers (``send``), what it hands in (``InboundSms``), how it fails, and
the one configured in ``[sms]``.

Sending failures are ``SmsError`` naming the gateway and the cause. A webhook that fails its
authentication is ``InboundRefused`` (HTTP 403), one lacking a field is ``InboundInvalid`` (400).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from ivr.http_exchange import HttpFailure
from ivr.http_exchange import exchange as http_exchange
from ivr.secrets import MissingSecret, ensure_secret
from ivr.settings import Settings

SECRET = re.compile(r"^[A-Za-z0-9_\-]{16,}$")


@dataclass(frozen=True)
class InboundSms:
    sender: str  # as the gateway gave it; made E.164 by whoever reads it
    text: str
    receiver: str = ""


class SmsError(Exception):
    """A send that failed: the message names the gateway and the cause."""


class InboundRefused(Exception):
    """A wrong or missing secret or signature (HTTP 403); the message names the field."""


class InboundInvalid(Exception):
    """A missing or malformed field (HTTP 400); the message names the field."""


class SmsGateway(Protocol):
    name: str

    async def send(self, to: str, text: str) -> None: ...


async def exchange(gateway: str, http: aiohttp.ClientSession, method: str, url: str, timeout: float, *,
                   params: Mapping[str, str] | None = None, data: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> str:
    """One request to a gateway (ivr.http_exchange); a failure is ``SmsError`` naming the gateway."""
    try:
        return await http_exchange(http, method, url, timeout, params=params, data=data, headers=headers)
    except HttpFailure as exc:
        raise SmsError(f"{gateway}: {exc}") from exc


def read_secret(path: Path, what: str, hint: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MissingSecret(f"no {what}: cannot read {path} ({exc.strerror}); {hint}") from exc
    if not value:
        raise MissingSecret(f"no {what}: {path} is empty; {hint}")
    return value


def inbound_secret(settings: Settings) -> str:
    """The secret gateways prove themselves with: Kannel's get-url carries it, a provider signs its
    webhook with it. ``sms.secret_file``, else generated into ``<state_dir>/sms/inbound-secret``."""
    if not settings.sms.secret_file:
        return ensure_secret(settings.state_path / "sms" / "inbound-secret")
    path = settings.path(settings.sms.secret_file)
    value = read_secret(path, "SMS inbound secret", "set sms.secret_file, or leave it empty to generate one")
    if not SECRET.match(value):
        # It goes into Kannel's get-url, where % and & would be read as escapes and parameters.
        raise MissingSecret(f"SMS inbound secret in {path}: expected at least 16 letters, digits, - or _")
    return value


def gateway(settings: Settings, http: aiohttp.ClientSession) -> SmsGateway | None:
    """The gateway ``sms.gateway`` names, None when it is empty. Raises ``MissingSecret`` when its
    password or authorization cannot be read."""
    # Imported here: both modules import this one's types.
    from ivr.sms.http_provider import HttpProviderGateway, authorization
    from ivr.sms.kannel import KannelGateway, kannel_password

    sms = settings.sms
    if sms.gateway == "kannel":
        return KannelGateway(http, sms.kannel, kannel_password(settings), sms.sender, sms.timeout)
    if sms.gateway == "http":
        header = authorization(sms.http, os.environ)
        return HttpProviderGateway(http, sms.http, header, sms.sender, sms.timeout)
    return None
