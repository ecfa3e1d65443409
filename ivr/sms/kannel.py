"""Kannel's smsbox: sending through its ``sendsms`` HTTP interface, receiving through an
``sms-service`` whose ``get-url`` calls ``GET /sms/kannel``.

The kannel.conf groups this expects (docs/configuration.md, "SMS")::

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
from urllib.parse import parse_qs

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


def read_kannel(raw_query: str, secret: str) -> InboundSms:
    """An SMS from the get-url's query string, as Kannel sent it: the text is the message's own
    bytes (``%b``), in the charset Kannel names (``%C``: UTF-8, or UTF-16BE for a UCS-2 SMS).

    >>> secret = "s" * 16
    >>> read_kannel(f"secret={secret}&from=%2B4915112345678&to=4930&text=12++T&charset=UTF-8", secret)
    InboundSms(sender='+4915112345678', text='12  T', receiver='4930')
    >>> read_kannel(f"secret={secret}&from=1&text=%00T%00%FA&charset=UTF-16BE", secret).text
    'Tú'
    """
    raw = {name: values[0].encode("latin-1")
           for name, values in parse_qs(raw_query, keep_blank_values=True, encoding="latin-1").items()}
    charset = raw.get("charset", b"UTF-8").decode("ascii", "replace") or "UTF-8"
    try:
        text = raw["text"].decode(charset, "replace") if "text" in raw else None
    except LookupError as exc:
        raise InboundInvalid(f"charset: unknown ({charset})") from exc
    query = {name: value.decode("utf-8", "replace") for name, value in raw.items() if name != "text"}
    given = query.get("secret")
    if not given:
        raise InboundRefused("secret: missing")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise InboundRefused("secret: wrong")
    if "from" not in query:
        raise InboundInvalid("from: missing")
    if text is None:
        raise InboundInvalid("text: missing")
    if not query["from"]:
        raise InboundInvalid("from: empty")
    return InboundSms(sender=query["from"], text=text, receiver=query.get("to", ""))


def get_url(base: str, secret: str) -> str:
    """The ``get-url`` to paste in kannel.conf's sms-service. Kannel puts the sender for %p, the
    receiver for %P, the message's bytes for %b and their charset for %C, each URL-encoded (%a,
    the words, would squeeze spaces and cut a UCS-2 message's bytes apart).

    >>> get_url("http://10.0.0.5:8090/", "abc")
    'http://10.0.0.5:8090/sms/kannel?secret=abc&from=%p&to=%P&text=%b&charset=%C'
    """
    return f"{base.rstrip('/')}/sms/kannel?secret={secret}&from=%p&to=%P&text=%b&charset=%C"
