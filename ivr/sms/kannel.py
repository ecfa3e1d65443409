"""Kannel's smsbox: sending through its ``sendsms`` HTTP interface, receiving through an
``sms-service`` whose ``get-url`` calls ``GET /sms/kannel``.

The kannel.conf groups this expects (docs/configuration.md, "SMS")::

    group = smsbox
    mo-recode = true      # without it, %a of a UCS-2 SMS is its UTF-16 bytes, not UTF-8
    group = sendsms-user
    username = ivr
    password = <the password in sms.kannel.password_file>
    group = sms-service
    keyword = default
    catch-all = true
    get-url = "<get_url(...)>"
    max-messages = 0      # no reply SMS, whatever we answer
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import aiohttp

from ivr.secrets import MissingSecret
from ivr.settings import KannelSettings, Settings
from ivr.sms.gateway import InboundInvalid, InboundRefused, InboundSms, exchange, read_secret

# GSM 03.38's default alphabet and its extension table: a text within them goes as 7-bit SMS
# (160 characters), any other character makes it UCS-2 (70).
GSM_7BIT = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà" "\f^{}\\[~]|€")
GSM, UCS2 = "0", "2"


def coding(text: str) -> str:
    """Kannel's ``coding`` for a text: 0 (GSM 7-bit) when it can, else 2 (UCS-2).

    >>> coding("Call 12 waiting: reply 12"), coding("Llamada de Peña €"), coding("Звонок")
    ('0', '0', '2')
    """
    return GSM if set(text) <= GSM_7BIT else UCS2


class KannelGateway:
    name = "kannel"

    def __init__(self, http: aiohttp.ClientSession, settings: KannelSettings, password: str, sender: str,
                 timeout: float) -> None:
        self.http = http
        self.settings = settings
        self.password = password
        self.sender = sender
        self.timeout = timeout

    async def send(self, to: str, text: str) -> None:
        """Kannel answers 202 "0: Accepted for delivery" (or "3: Queued for later delivery"),
        403/400/503 with the reason. With ``charset=UTF-8`` it converts the text itself: to GSM for
        coding 0, to UTF-16BE for coding 2."""
        params = {"username": self.settings.user, "password": self.password, "to": to, "text": text,
                  "charset": "UTF-8", "coding": coding(text)}
        if self.sender:
            params["from"] = self.sender
        if self.settings.smsc:
            params["smsc"] = self.settings.smsc
        await exchange(self.name, self.http, "GET", self.settings.sendsms_url, self.timeout, params=params)


def kannel_password(settings: Settings) -> str:
    """The sendsms-user's password: the setting (from the environment), else its file; no default."""
    kannel = settings.sms.kannel
    if kannel.password:
        return kannel.password
    if not kannel.password_file:
        raise MissingSecret("no Kannel password: set IVR_SMS__KANNEL__PASSWORD or sms.kannel.password_file")
    return read_secret(settings.path(kannel.password_file), "Kannel password",
                       "it is the sendsms-user's password in kannel.conf")


def read_kannel(query: Mapping[str, str], secret: str) -> InboundSms:
    """An SMS from the get-url's query, already URL-decoded.

    >>> read_kannel({"secret": "s" * 16, "from": "+4915112345678", "to": "4930", "text": "12"}, "s" * 16)
    InboundSms(sender='+4915112345678', text='12', receiver='4930')
    """
    given = query.get("secret")
    if not given:
        raise InboundRefused("secret: missing")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise InboundRefused("secret: wrong")
    for field in ("from", "text"):
        if field not in query:
            raise InboundInvalid(f"{field}: missing")
    if not query["from"]:
        raise InboundInvalid("from: empty")
    return InboundSms(sender=query["from"], text=query["text"], receiver=query.get("to", ""))


def get_url(base: str, secret: str) -> str:
    """The ``get-url`` to paste in kannel.conf's sms-service. Kannel puts the sender for %p, the
    receiver for %P and all the words of the message for %a (spaces squeezed), each URL-encoded.

    >>> get_url("http://10.0.0.5:8090/", "abc")
    'http://10.0.0.5:8090/sms/kannel?secret=abc&from=%p&to=%P&text=%a'
    """
    return f"{base.rstrip('/')}/sms/kannel?secret={secret}&from=%p&to=%P&text=%a"
