"""A cloud SMS provider's HTTP API, described by settings (``[sms.http]``): the URL, the method,
a body template (``body_template.py``), an optional Authorization header from the environment.
Any 2xx answer is success.

Its webhook (``POST /sms/inbound``) carries the reply in a JSON or form body, signed with the
inbound secret: the header ``signature_header`` holds the hex HMAC-SHA256 of the raw body
(``sha256=`` before it is accepted, as GitHub-style webhooks send it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import aiohttp

from ivr.secrets import MissingSecret
from ivr.settings import HttpProviderSettings
from ivr.sms import body_template
from ivr.sms.gateway import InboundInvalid, InboundRefused, InboundSms, exchange


class HttpProviderGateway:
    name = "http"

    def __init__(self, http: aiohttp.ClientSession, settings: HttpProviderSettings, authorization: str,
                 sender: str, timeout: float) -> None:
        self.http = http
        self.settings = settings
        self.template = body_template.parse(settings.body, settings.content_type)
        self.headers = {"Authorization": authorization} if authorization else {}
        self.sender = sender
        self.timeout = timeout

    async def send(self, to: str, text: str) -> None:
        body = body_template.render(self.template, {"to": to, "sender": self.sender, "text": text})
        url = self.settings.url
        if self.settings.method == "GET":
            url += ("&" if "?" in url else "?") + body
            await exchange(self.name, self.http, "GET", url, self.timeout, headers=self.headers)
            return
        headers = {**self.headers, "Content-Type": f"{self.settings.content_type}; charset=utf-8"}
        await exchange(self.name, self.http, "POST", url, self.timeout, data=body.encode(), headers=headers)


def authorization(settings: HttpProviderSettings, environ: Mapping[str, str]) -> str:
    """The Authorization header's value from ``authorization_env``; "" when none is configured."""
    if not settings.authorization_env:
        return ""
    if value := environ.get(settings.authorization_env, ""):
        return value
    raise MissingSecret(f"sms.http.authorization_env: environment variable {settings.authorization_env} "
                        "is not set (it holds the provider's Authorization header, e.g. 'Bearer ...')")


def read_http(headers: Mapping[str, str], body: bytes, content_type: str, settings: HttpProviderSettings,
              secret: str) -> InboundSms:
    """An SMS from a signed webhook. Dotted field names reach into JSON objects (``data.text``).

    >>> settings = HttpProviderSettings()
    >>> body = b'{"from": "+4915112345678", "text": "12"}'
    >>> signature = hmac.new(b"s" * 16, body, hashlib.sha256).hexdigest()
    >>> read_http({"X-Ivr-Signature": signature}, body, "application/json", settings, "s" * 16)
    InboundSms(sender='+4915112345678', text='12', receiver='')
    """
    _check_signature(headers, body, settings.signature_header, secret)
    fields = _fields(body, content_type)
    sender = _field(fields, settings.inbound_sender_field)
    if not sender:
        raise InboundInvalid(f"{settings.inbound_sender_field}: empty")
    return InboundSms(sender=sender, text=_field(fields, settings.inbound_text_field))


def _check_signature(headers: Mapping[str, str], body: bytes, header: str, secret: str) -> None:
    given = next((value for name, value in headers.items() if name.lower() == header.lower()), "")
    if not given:
        raise InboundRefused(f"{header}: missing")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().removeprefix("sha256=").lower().encode(), expected.encode()):
        raise InboundRefused(f"{header}: wrong signature (expected the hex HMAC-SHA256 of the body)")


def _fields(body: bytes, content_type: str) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
        if content_type == body_template.JSON:
            parsed = json.loads(text)
        elif content_type == body_template.FORM:
            parsed = {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}
        else:
            raise InboundInvalid(f"Content-Type {content_type!r}: expected {body_template.JSON} "
                                 f"or {body_template.FORM}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InboundInvalid(f"body: not {content_type} in UTF-8 ({exc})") from None
    if not isinstance(parsed, dict):
        raise InboundInvalid("body: expected a JSON object")
    return parsed


def _field(fields: dict[str, Any], name: str) -> str:
    value: Any = fields
    for key in [name] if name in fields else name.split("."):
        if not isinstance(value, dict) or key not in value:
            raise InboundInvalid(f"{name}: missing")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InboundInvalid(f"{name}: expected a string")
    return str(value)
