"""SMS gateways against real HTTP servers on 127.0.0.1: a Kannel-style sendsms, a provider's API,
and the inbound routes Kannel and providers call."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_from_bytes, urlencode

import aiohttp
import pytest
from aiohttp import web

from ivr.config_file import ConfigError
from ivr.secrets import MissingSecret
from ivr.settings import HttpProviderSettings, Settings, load_settings
from ivr.sms.gateway import InboundInvalid, InboundRefused, InboundSms, SmsError, gateway, inbound_secret
from ivr.sms.http_provider import read_http
from ivr.sms.kannel import get_url, read_kannel
from ivr.sms.routes import routes
from tests.ports import free_port

SECRET = "k" * 24
TRICKY = 'Llamada 12 "VIP" & más\nreply 12 → ok {to} 電話'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Provider:
    """Records each request; ``/fail`` answers 422 with a long body, ``/slow`` answers after 2 s."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, dict(request.query), dict(request.headers), body))
        if request.path == "/fail":
            return web.Response(status=422, text="invalid number " + "x" * 300)
        if request.path == "/slow":
            await asyncio.sleep(2)
        if request.path == "/cgi-bin/sendsms" and request.query.get("password") != "pw":
            return web.Response(status=403, text="Authorization failed for sendsms")
        return web.Response(status=202, text="0: Accepted for delivery")


@asynccontextmanager
async def served(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    recorder = Provider()
    async with served([web.route("*", "/{path:.*}", recorder.handle)]) as base:
        yield recorder, base


def settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(None, {"IVR_STATE_DIR": str(tmp_path), **{f"IVR_SMS__{k.upper()}": v for k, v in env.items()}})


async def send(config: Settings, to: str, text: str) -> None:
    async with aiohttp.ClientSession() as http:
        found = gateway(config, http)
        assert found is not None
        await found.send(to, text)


# Kannel: sending


async def test_kannel_sends_the_text_as_utf8_with_the_coding_it_needs(tmp_path: Path) -> None:
    async with provider() as (recorder, base):
        config = settings(tmp_path, gateway="kannel", sender="+4930123", kannel__password="pw",
                          kannel__smsc="smpp1", kannel__sendsms_url=f"{base}/cgi-bin/sendsms")
        await send(config, "+4915112345678", TRICKY)
        await send(config, "+4915112345678", "Call waiting: reply 12")

    (method, query, _, _), (_, plain, _, _) = recorder.seen
    assert method == "GET"
    assert query == {"username": "ivr", "password": "pw", "to": "+4915112345678", "text": TRICKY,
                     "from": "+4930123", "smsc": "smpp1", "charset": "UTF-8", "coding": "2"}
    assert (plain["text"], plain["coding"]) == ("Call waiting: reply 12", "0")


async def test_kannel_without_sender_or_smsc_leaves_them_to_kannel(tmp_path: Path) -> None:
    async with provider() as (recorder, base):
        await send(settings(tmp_path, gateway="kannel", kannel__password="pw",
                            kannel__sendsms_url=f"{base}/cgi-bin/sendsms"), "+4915112345678", "hi")

    assert "from" not in recorder.seen[0][1] and "smsc" not in recorder.seen[0][1]


async def test_kannel_reads_its_password_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "kannel-password").write_text("pw\n")
    async with provider() as (recorder, base):
        await send(settings(tmp_path, gateway="kannel", kannel__password_file=str(tmp_path / "kannel-password"),
                            kannel__sendsms_url=f"{base}/cgi-bin/sendsms"), "+4915112345678", "hi")

    assert recorder.seen[0][1]["password"] == "pw"


async def test_kannel_refusing_is_an_error_naming_status_and_answer(tmp_path: Path) -> None:
    async with provider() as (_, base):
        with pytest.raises(SmsError, match=r"^kannel: HTTP 403: 'Authorization failed for sendsms'$"):
            await send(settings(tmp_path, gateway="kannel", kannel__password="wrong",
                                kannel__sendsms_url=f"{base}/cgi-bin/sendsms"), "+49151", "hi")


async def test_an_error_answer_is_cut_to_200_characters(tmp_path: Path) -> None:
    async with provider() as (_, base):
        with pytest.raises(SmsError) as caught:
            await send(settings(tmp_path, gateway="kannel", kannel__password="pw",
                                kannel__sendsms_url=f"{base}/fail"), "+49151", "hi")

    assert str(caught.value) == "kannel: HTTP 422: " + repr("invalid number " + "x" * 185)


async def test_a_gateway_not_listening_is_an_error_saying_so(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(SmsError, match=rf"^kannel: cannot connect to 127.0.0.1:{port}: Connection refused$"):
        await send(settings(tmp_path, gateway="kannel", kannel__password="pw",
                            kannel__sendsms_url=f"http://127.0.0.1:{port}/cgi-bin/sendsms"), "+49151", "hi")


async def test_a_gateway_answering_late_is_an_error_after_the_timeout(tmp_path: Path) -> None:
    async with provider() as (_, base):
        started = asyncio.get_running_loop().time()
        with pytest.raises(SmsError, match=r"^kannel: no answer within 0.3 s$"):
            await send(settings(tmp_path, gateway="kannel", kannel__password="pw", timeout="0.3",
                                kannel__sendsms_url=f"{base}/slow"), "+49151", "hi")
        elapsed = asyncio.get_running_loop().time() - started

    assert elapsed < 1.5


async def test_no_gateway_configured_is_none(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        assert gateway(settings(tmp_path), http) is None


async def test_a_kannel_password_file_missing_is_named(tmp_path: Path) -> None:
    config = settings(tmp_path, gateway="kannel", kannel__password_file="nowhere")

    async with aiohttp.ClientSession() as http:
        with pytest.raises(MissingSecret, match=r"no Kannel password: cannot read .*nowhere"):
            gateway(config, http)


# HTTP provider: sending


async def test_a_json_template_carries_any_text_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_TOKEN", "Bearer t0k3n")
    async with provider() as (recorder, base):
        await send(settings(tmp_path, gateway="http", sender="ivr", http__url=f"{base}/v1/sms",
                            http__authorization_env="SMS_TOKEN"), "+4915112345678", TRICKY)

    method, _, headers, body = recorder.seen[0]
    assert method == "POST"
    assert headers["Authorization"] == "Bearer t0k3n"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {"to": "+4915112345678", "from": "ivr", "text": TRICKY}


async def test_a_form_template_carries_any_text_intact(tmp_path: Path) -> None:
    async with provider() as (recorder, base):
        await send(settings(tmp_path, gateway="http", http__url=f"{base}/v1/sms",
                            http__content_type="application/x-www-form-urlencoded",
                            http__body="To={to}&Body={text}&Kind=sms"), "+4915112345678", TRICKY)

    _, _, headers, body = recorder.seen[0]
    assert "Authorization" not in headers
    assert parse_qs(body.decode(), strict_parsing=True) == {"To": ["+4915112345678"], "Body": [TRICKY], "Kind": ["sms"]}


async def test_get_puts_the_template_in_the_query(tmp_path: Path) -> None:
    async with provider() as (recorder, base):
        await send(settings(tmp_path, gateway="http", http__url=f"{base}/send?key=abc", http__method="GET",
                            http__content_type="application/x-www-form-urlencoded",
                            http__body="to={to}&msg={text}"), "+4915112345678", TRICKY)

    method, query, _, body = recorder.seen[0]
    assert (method, body) == ("GET", b"")
    assert query == {"key": "abc", "to": "+4915112345678", "msg": TRICKY}


async def test_a_provider_refusing_is_an_error(tmp_path: Path) -> None:
    async with provider() as (_, base):
        with pytest.raises(SmsError, match=r"^http: HTTP 422: 'invalid number x"):
            await send(settings(tmp_path, gateway="http", http__url=f"{base}/fail"), "+49151", "hi")


async def test_an_authorization_variable_not_set_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_TOKEN", raising=False)
    config = settings(tmp_path, gateway="http", http__url="https://sms.example.com", http__authorization_env="SMS_TOKEN")

    async with aiohttp.ClientSession() as http:
        with pytest.raises(MissingSecret, match="environment variable SMS_TOKEN is not set"):
            gateway(config, http)


# Inbound: reading


def test_kannel_inbound_needs_the_secret_and_the_fields() -> None:
    query = {"secret": SECRET, "from": "+4915112345678", "to": "4930", "text": "12 ok", "charset": "UTF-8"}

    def raw(fields: dict[str, str]) -> str:
        return urlencode(fields)

    assert read_kannel(raw(query), SECRET) == InboundSms("+4915112345678", "12 ok", "4930")
    assert read_kannel(raw({k: v for k, v in query.items() if k != "to"}), SECRET).receiver == ""
    with pytest.raises(InboundRefused, match=r"^secret: wrong$"):
        read_kannel(raw({**query, "secret": "x" * 24}), SECRET)
    with pytest.raises(InboundRefused, match=r"^secret: missing$"):
        read_kannel(raw({k: v for k, v in query.items() if k != "secret"}), SECRET)
    with pytest.raises(InboundInvalid, match=r"^text: missing$"):
        read_kannel(raw({k: v for k, v in query.items() if k != "text"}), SECRET)
    with pytest.raises(InboundInvalid, match=r"^from: empty$"):
        read_kannel(raw({**query, "from": ""}), SECRET)
    with pytest.raises(InboundInvalid, match=r"^charset: unknown"):
        read_kannel(raw({**query, "charset": "NOPE-9"}), SECRET)


def test_kannel_inbound_reads_a_ucs2_sms_in_its_charset() -> None:
    text = "17 T ñandú"
    query = f"secret={SECRET}&from=1&text={quote_from_bytes(text.encode('utf-16-be'))}&charset=UTF-16BE"

    assert read_kannel(query, SECRET).text == text


def test_the_kannel_get_url_uses_kannels_escapes() -> None:
    assert get_url("https://ivr.example.com:8090/", SECRET) == (
        f"https://ivr.example.com:8090/sms/kannel?secret={SECRET}&from=%p&to=%P&text=%b&charset=%C")


def signed(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


JSON_BODY = json.dumps({"from": "+4915112345678", "text": TRICKY}).encode()
FORM_BODY = urlencode({"From": "+4915112345678", "Body": TRICKY}).encode()


def test_a_signed_json_webhook_is_read() -> None:
    sms = read_http({"x-ivr-signature": signed(JSON_BODY)}, JSON_BODY, "application/json", HttpProviderSettings(), SECRET)

    assert sms == InboundSms("+4915112345678", TRICKY)


def test_a_signed_form_webhook_with_its_own_field_names_is_read() -> None:
    config = HttpProviderSettings(inbound_sender_field="From", inbound_text_field="Body", signature_header="X-Sig")

    sms = read_http({"X-Sig": "sha256=" + signed(FORM_BODY)}, FORM_BODY, "application/x-www-form-urlencoded", config, SECRET)

    assert sms == InboundSms("+4915112345678", TRICKY)


def test_dotted_fields_reach_into_json() -> None:
    body = json.dumps({"data": {"from": {"phone": "+4915112345678"}, "text": "12"}}).encode()
    config = HttpProviderSettings(inbound_sender_field="data.from.phone", inbound_text_field="data.text")

    assert read_http({"X-Ivr-Signature": signed(body)}, body, "application/json", config, SECRET).text == "12"


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "^X-Ivr-Signature: missing$"),
    ({"X-Ivr-Signature": signed(JSON_BODY, "o" * 24)}, "^X-Ivr-Signature: wrong signature"),
    ({"X-Ivr-Signature": signed(JSON_BODY + b" ")}, "^X-Ivr-Signature: wrong signature"),
])
def test_a_webhook_not_signed_with_the_secret_is_refused(headers: dict[str, str], expected: str) -> None:
    with pytest.raises(InboundRefused, match=expected):
        read_http(headers, JSON_BODY, "application/json", HttpProviderSettings(), SECRET)


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b'{"from": "+49151"}', "application/json", "^text: missing$"),
    (b'{"text": "12"}', "application/json", "^from: missing$"),
    (b'{"from": "", "text": "12"}', "application/json", "^from: empty$"),
    (b'{"from": ["+49151"], "text": "12"}', "application/json", "^from: expected a string$"),
    (b'["+49151", "12"]', "application/json", "^body: expected a JSON object$"),
    (b"{not json", "application/json", "^body: not application/json in UTF-8"),
    (b"from=%2B49151", "application/x-www-form-urlencoded", "^text: missing$"),
    (b"from=1&text=2", "text/plain", "^Content-Type 'text/plain': expected application/json or"),
])
def test_a_webhook_lacking_a_field_is_invalid(body: bytes, content_type: str, expected: str) -> None:
    with pytest.raises(InboundInvalid, match=expected):
        read_http({"X-Ivr-Signature": signed(body)}, body, content_type, HttpProviderSettings(), SECRET)


def test_the_inbound_secret_is_generated_once(tmp_path: Path) -> None:
    first = inbound_secret(settings(tmp_path))

    assert first == inbound_secret(settings(tmp_path))
    assert (tmp_path / "sms" / "inbound-secret").stat().st_mode & 0o777 == 0o600


def test_a_configured_inbound_secret_must_be_url_safe(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("a%b&c" * 4)

    with pytest.raises(MissingSecret, match="expected at least 16 letters, digits, - or _"):
        inbound_secret(settings(tmp_path, secret_file=str(tmp_path / "secret")))
    (tmp_path / "secret").write_text(SECRET + "\n")
    assert inbound_secret(settings(tmp_path, secret_file=str(tmp_path / "secret"))) == SECRET


# Inbound: the routes


@asynccontextmanager
async def inbound_server(on_sms: Callable[[InboundSms], Awaitable[None]]) -> AsyncIterator[str]:
    async with served(routes(on_sms, SECRET, HttpProviderSettings(), SECRET)) as base:
        yield base


async def test_the_kannel_route_hands_the_sms_on_and_answers_nothing() -> None:
    received: list[InboundSms] = []

    async def on_sms(sms: InboundSms) -> None:
        received.append(sms)

    async with inbound_server(on_sms) as base, aiohttp.ClientSession() as http:
        # what Kannel sends for %b: the message's bytes, URL-encoded
        query = f"secret={SECRET}&from=%2B4915112345678&to=4930&text=12+%C3%BCber+%22ok%22%26&charset=UTF-8"
        async with http.get(f"{base}/sms/kannel?{query}") as response:
            assert (response.status, await response.read()) == (200, b"")

    assert received == [InboundSms("+4915112345678", '12 über "ok"&', "4930")]


async def test_the_inbound_route_hands_a_signed_sms_on() -> None:
    received: list[InboundSms] = []

    async def on_sms(sms: InboundSms) -> None:
        received.append(sms)

    async with inbound_server(on_sms) as base, aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json", "X-Ivr-Signature": signed(JSON_BODY)}
        async with http.post(f"{base}/sms/inbound", data=JSON_BODY, headers=headers) as response:
            assert (response.status, await response.read()) == (200, b"")

    assert received == [InboundSms("+4915112345678", TRICKY)]


@pytest.mark.parametrize(("request_args", "status", "error"), [
    (("GET", "/sms/kannel?secret=wrong&from=1&text=2", {}, b""), 403, "secret: wrong"),
    (("GET", f"/sms/kannel?secret={SECRET}&from=1", {}, b""), 400, "text: missing"),
    (("POST", "/sms/inbound", {"Content-Type": "application/json"}, JSON_BODY), 403, "X-Ivr-Signature: missing"),
    (("POST", "/sms/inbound", {"Content-Type": "application/json", "X-Ivr-Signature": signed(b"{}")}, b"{}"),
     400, "from: missing"),
])
async def test_the_routes_refuse_with_the_problem_named(request_args: tuple[str, str, dict[str, str], bytes],
                                                        status: int, error: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    method, path, headers, body = request_args

    async def on_sms(sms: InboundSms) -> None:
        raise AssertionError("a refused SMS reached on_sms")

    async with inbound_server(on_sms) as base, aiohttp.ClientSession() as http:
        async with http.request(method, base + path, headers=headers, data=body) as response:
            answer: Any = (response.status, await response.json())

    assert answer == (status, {"error": error})
    assert [(r.levelno, error in r.getMessage()) for r in caplog.records] == [(logging.WARNING, True)]


async def test_a_failing_handler_is_a_500_without_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def on_sms(sms: InboundSms) -> None:
        raise RuntimeError("database is locked")

    async with inbound_server(on_sms) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/sms/kannel?secret={SECRET}&from=1&text=2") as response:
            answer = (response.status, await response.text())

    assert answer[0] == 500 and "database" not in answer[1] and "Traceback" not in answer[1]
    assert "database is locked" in caplog.text


async def test_only_the_configured_routes_exist() -> None:
    async def on_sms(sms: InboundSms) -> None:
        return None

    assert [r.path for r in routes(on_sms, None, None, SECRET)] == []
    assert [r.path for r in routes(on_sms, SECRET, None, SECRET)] == ["/sms/kannel"]


# Settings


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "ivr.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return [str(p).replace(str(path), "ivr.toml") for p in caught.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ('[sms]\ngateway = "twilio"\n', "ivr.toml:2: sms.gateway: Input should be '', 'kannel' or 'http'"),
    ('[sms]\ngateway = "http"\n', "ivr.toml:1: sms: gateway 'http' needs http.url"),
    ('[sms]\ngateway = "kannel"\n', "ivr.toml:1: sms: gateway 'kannel' needs kannel.password_file or IVR_SMS__KANNEL__PASSWORD"),
    ('[sms]\nsender = "+49 30; rm"\n', "ivr.toml:2: sms.sender: String should match pattern"),
    ('[sms]\ntimeout = 0\n', "ivr.toml:2: sms.timeout: Input should be greater than 0"),
    ('[sms.kannel]\nsendsms_url = "127.0.0.1:13013"\n', "ivr.toml:2: sms.kannel.sendsms_url: expected an http:// or https:// URL"),
    ('[sms.kannel]\nsmsc = "a b"\n', "ivr.toml:2: sms.kannel.smsc: String should match pattern"),
    ('[sms.kannel]\npasword = "x"\n', "ivr.toml:2: sms.kannel.pasword: unknown setting (misspelt?)"),
    ('[sms.http]\nurl = "ftp://x"\n', "ivr.toml:2: sms.http.url: expected an http:// or https:// URL"),
    ('[sms.http]\nmethod = "PUT"\n', "ivr.toml:2: sms.http.method: Input should be 'POST' or 'GET'"),
    ('[sms.http]\nmethod = "GET"\n', "ivr.toml:1: sms.http: method GET sends the body as the query string"),
    ("[sms.http]\nbody = '{\"text\": {text}}'\n", "ivr.toml:1: sms.http: body is not valid JSON"),
    ("[sms.http]\nbody = '{\"to\": \"{to}\", \"text\": \"{message}\"}'\n", "ivr.toml:1: sms.http: body has unknown placeholder {message}"),
    ("[sms.http]\nbody = '{\"text\": \"{text}\"}'\n", "ivr.toml:1: sms.http: body lacks {to}"),
    ('[sms.http]\ncontent_type = "application/x-www-form-urlencoded"\nbody = "to={to}&text"\n', "ivr.toml:1: sms.http: body is not a form"),
    ('[sms.http]\nauthorization_env = "token"\n', "ivr.toml:2: sms.http.authorization_env: String should match pattern"),
    ('[sms.http]\nsignature_header = "X Sig"\n', "ivr.toml:2: sms.http.signature_header: String should match pattern"),
])
def test_each_wrong_sms_field_is_named_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)

    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_the_kannel_password_can_come_from_the_environment() -> None:
    config = load_settings(None, {"IVR_SMS__GATEWAY": "kannel", "IVR_SMS__KANNEL__PASSWORD": "pw"})

    assert (config.sms.gateway, config.sms.kannel.password) == ("kannel", "pw")
