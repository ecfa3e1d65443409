"""The settings of one ivr installation: a TOML file plus ``IVR_SECTION__KEY`` overrides.

Every field has a default, so the embedded set-up (bundled PBX, SQLite) needs no file at all.
See ``docs/configuration.md`` for each field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ivr.config_file import ConfigError, Problem, RawConfig, load_raw
from ivr.sms import body_template

CONFIG_ENV = "IVR_CONFIG"
DEFAULT_CONFIG = Path("ivr.toml")
DEMO_FLOW = Path(__file__).parent / "flows" / "demo.toml"

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=3600)]
DIALPLAN_WORD = r"^[A-Za-z0-9_\-]+$"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def listed(value: object) -> object:
    """A list setting given as one string (from the environment): a JSON list, or words
    separated by commas.

    >>> listed('["ivr", "ivr-b"]'), listed("ivr, ivr-b"), listed(""), listed(["x"])
    (['ivr', 'ivr-b'], ['ivr', 'ivr-b'], [], ['x'])
    """
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not a JSON list ({exc}); or write the items separated by commas") from None
    return [item.strip() for item in value.split(",") if item.strip()]


class AriSettings(Section):
    url: str = Field("", description="ARI base URL; empty means the bundled PBX")
    user: str = Field("ivr", pattern=DIALPLAN_WORD)
    password_file: str = Field("", description="file holding the ARI password")
    password: str = Field("", description="prefer IVR_ARI__PASSWORD or password_file")
    ca_file: str = Field("", description="CA certificates (PEM) Asterisk's certificate is verified "
                         "against, for an https:// url; empty: the system's trust store")
    app: str = Field("ivr", pattern=DIALPLAN_WORD)
    startup_timeout: Seconds = 30.0
    ping_interval: Annotated[float, Field(ge=1, le=5)] = 4.0
    request_timeout: Seconds = 5.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, e.g. http://127.0.0.1:8088")
        return value.rstrip("/")


class FallbackSettings(Section):
    """Where the dialplan sends a call when the ARI application is not connected."""

    kind: Literal["message", "goto", "dial", "busy"] = "message"
    sound: str = Field("ss-noservice", pattern=r"^[A-Za-z0-9_\-/]+$")
    context: str = Field("", pattern=r"^[A-Za-z0-9_\-]*$")
    exten: str = Field("s", pattern=r"^[A-Za-z0-9_\-*#+]+$")
    priority: int = Field(1, ge=1)
    dial: str = Field("", pattern=r"^[A-Za-z0-9_\-/&@.:]*$", description="e.g. PJSIP/operator")
    dial_timeout: int = Field(30, ge=1, le=600)

    @model_validator(mode="after")
    def _complete(self) -> FallbackSettings:
        if self.kind == "goto" and not self.context:
            raise ValueError("kind 'goto' needs 'context' (and optionally exten, priority)")
        if self.kind == "dial" and not self.dial:
            raise ValueError("kind 'dial' needs 'dial', e.g. 'PJSIP/operator'")
        return self


class PbxSettings(Section):
    """The bundled Asterisk: a Debian sid root run by chroot, one instance per name."""

    instance: str = Field("demo", pattern=r"^[a-z0-9][a-z0-9\-]{0,31}$")
    root: str = ".pbx/root"
    mirror: str = Field("", description="Debian mirror; empty: taken from the apt sources")
    bind: str = "127.0.0.1"
    http_port: Port = 8088
    sip_port: Port = 5060
    ami_port: Port = 5038
    tls: bool = Field(False, description="also serve HTTP/ARI over TLS on tls_port, with a generated "
                      "certificate; the app then reaches ARI by https:// and wss://")
    tls_port: Port = 8089
    rtp_start: Port = 20000
    rtp_end: Port = 20999
    startup_timeout: Seconds = 30.0
    apps: tuple[Annotated[str, Field(pattern=DIALPLAN_WORD)], ...] = Field(
        (), description="the Stasis apps of all `ivr run` processes sharing calls; empty: ari.app")
    pjsip_include: str = Field("", description="your own PJSIP sections (e.g. trunks to providers), "
                               "added to the bundled PBX's pjsip.conf")
    extensions_include: str = Field("", description="your own dialplan contexts (a file you keep), added "
                                    "to the bundled PBX's extensions.conf at every `ivr pbx up`")
    proxy: str = Field("", pattern=r"^([A-Za-z0-9.\-]+:[0-9]{1,5})?$", description="host:port of a SIP "
                       "proxy before this PBX (`ivr cluster`'s Kamailio): calls from it enter the inbound "
                       "flow; agents with phone = \"register\" register to it and are called through it")
    fallback: FallbackSettings = FallbackSettings()

    _apps_listed = field_validator("apps", mode="before")(listed)

    @model_validator(mode="after")
    def _ports(self) -> PbxSettings:
        if self.rtp_end <= self.rtp_start:
            raise ValueError(f"rtp_end ({self.rtp_end}) must be above rtp_start")
        used = [self.http_port, self.sip_port, self.ami_port, *([self.tls_port] if self.tls else [])]
        if len(set(used)) != len(used):
            raise ValueError("http_port, sip_port, ami_port and tls_port must differ")
        return self


class FlowSettings(Section):
    file: str = Field("", description="the flow file; empty: the bundled demo flow")


class RecordSettings(Section):
    """How call records keep the digits callers enter (customer IDs may be personal data)."""

    digits: Literal["keep", "mask", "drop"] = "keep"
    keep_last: int = Field(2, ge=0, le=8, description="with digits = mask: digits left visible")


class ReportSettings(Section):
    """The queue_log (Asterisk's format) and the service-level reports (`ivr stats`)."""

    queue_log: str = Field("", description="the queue_log file; empty: <state_dir>/queue_log")
    short_abandon: float = Field(5.0, ge=0, le=600, description="callers who hang up sooner than this "
                                 "many seconds are short abandons, counted apart")


class AgentSettings(Section):
    """N offers in a row not answered pause the agent for a while (after = 0: never); what the
    agents' web page offers and when it pauses an agent whose page went away."""

    auto_pause_after: int = Field(3, ge=0, le=100)
    auto_pause_seconds: Seconds = 300.0
    pause_reasons: tuple[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]{1,80}$")], ...] = Field(
        ("break", "lunch", "meeting", "training"), min_length=1, description="the page's pause reasons")
    disconnected_after: float = Field(30.0, ge=0, le=3600, description="seconds without the agent's page "
                                      "before it is paused as 'disconnected'; 0: never")
    crm_link: str = Field("", description="the screen pop's link to the CRM, e.g. https://crm.example/"
                          "customers/{customer_id} (also {caller}, {did}, {campaign}, {call})")

    _reasons_listed = field_validator("pause_reasons", mode="before")(listed)

    @field_validator("crm_link")
    @classmethod
    def _link(cls, value: str) -> str:
        _require_http(value, "https://crm.example/customers/{customer_id}")
        try:
            value.format_map(dict.fromkeys(("customer_id", "caller", "did", "campaign", "call"), ""))
        except (KeyError, ValueError, IndexError) as exc:
            raise ValueError(f"{value!r}: the fields are {{customer_id}}, {{caller}}, {{did}}, "
                             f"{{campaign}} and {{call}} ({exc})") from None
        return value


class AdmissionSettings(Section):
    """Admission control (docs/metrics.md#admission-control): beyond a limit, a new call goes to
    the dialplan fallback at once. Each limit is off at 0."""

    max_calls: int = Field(0, ge=0, le=100_000, description="calls in progress")
    max_call_rate: float = Field(0.0, ge=0, le=100_000, description="new calls a second "
                                 "(the rate `ivr bench` measured the app to carry)")
    max_loop_lag: float = Field(0.0, ge=0, le=60, description="seconds the event loop runs late")
    max_event_delay: float = Field(0.0, ge=0, le=60, description="seconds ARI events arrive late (smoothed)")
    max_request_time: float = Field(0.0, ge=0, le=60, description="seconds ARI requests take (smoothed)")


class ApiSettings(Section):
    """The agents' and supervisors' API (tokens generated into <state_dir>/api/)."""

    bind: str = "127.0.0.1"
    port: Port = 8090
    public_url: str = Field("", description="the API's address as others reach it (a backend calling the "
                            "control URLs, the other app nodes); empty: http://<bind>:<port>")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="how long a web page sign-in lasts")
    wrong_secrets_per_minute: int = Field(10, ge=1, le=10_000,
                                          description="wrong tokens or passwords per address before 429")

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, e.g. https://ivr.example.com:8090")
        return value.rstrip("/")

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.bind}:{self.port}"


class AgiSettings(Section):
    """`ivr agi`: the identification node for classic dialplans, over FastAGI."""

    bind: str = "127.0.0.1"
    port: Port = 4573


class DatabaseSettings(Section):
    url: str = Field("", description="SQLAlchemy URL; empty: SQLite in the state folder")

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("expected a sqlite:// or postgresql:// URL")
        return value


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = Field("text", description="json: one object per line with the "
                                            "call's fields (call, linked_id, campaign, agent, node)")


def _require_http(value: str, example: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, e.g. {example}")
    return value


class KannelSettings(Section):
    """Kannel's smsbox: a ``sendsms-user`` group in kannel.conf (docs/configuration.md#sms)."""

    sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    user: str = Field("ivr", min_length=1, description="the sendsms-user's username")
    password_file: str = Field("", description="file holding the sendsms-user's password")
    password: str = Field("", description="prefer IVR_SMS__KANNEL__PASSWORD or password_file")
    smsc: str = Field("", pattern=r"^[A-Za-z0-9_\-.]*$", description="smsc-id to send through")

    @field_validator("sendsms_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _require_http(value, "http://127.0.0.1:13013/cgi-bin/sendsms")


class HttpProviderSettings(Section):
    """A cloud SMS provider's HTTP API, and the webhook it calls with the replies."""

    url: str = ""
    method: Literal["POST", "GET"] = "POST"
    content_type: Literal["application/json", "application/x-www-form-urlencoded"] = "application/json"
    body: str = Field('{"to": "{to}", "from": "{sender}", "text": "{text}"}',
                      description="with GET: the query string, in form syntax")
    authorization_env: str = Field("", pattern=r"^([A-Z_][A-Z0-9_]*)?$",
                                   description="environment variable holding the Authorization header")
    inbound_sender_field: str = Field("from", pattern=r"^[A-Za-z0-9_\-.]+$")
    inbound_text_field: str = Field("text", pattern=r"^[A-Za-z0-9_\-.]+$")
    signature_header: str = Field("X-Ivr-Signature", pattern=r"^[A-Za-z0-9\-]+$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _require_http(value, "https://sms.example.com/v1/messages")

    @model_validator(mode="after")
    def _body(self) -> HttpProviderSettings:
        if self.method == "GET" and self.content_type != body_template.FORM:
            raise ValueError("method GET sends the body as the query string: set content_type = "
                             f"{body_template.FORM!r} and a body like 'to={{to}}&text={{text}}'")
        body_template.parse(self.body, self.content_type)
        return self


class SmsSettings(Section):
    """The SMS gateway of the pull queue: staff get an SMS per waiting call and reply to take it."""

    gateway: Literal["", "kannel", "http"] = Field("", description="empty: no SMS")
    sender: str = Field("", pattern=r"^[A-Za-z0-9+ ._\-]{0,20}$",
                        description="the number or name SMS come from; empty: the gateway's default")
    timeout: Seconds = 10.0
    secret_file: str = Field("", description="the inbound secret; empty: generated in the state folder")
    kannel: KannelSettings = KannelSettings()
    http: HttpProviderSettings = HttpProviderSettings()

    @model_validator(mode="after")
    def _complete(self) -> SmsSettings:
        if self.gateway == "http" and not self.http.url:
            raise ValueError("gateway 'http' needs http.url, the provider's API to send through")
        if self.gateway == "kannel" and not (self.kannel.password or self.kannel.password_file):
            raise ValueError("gateway 'kannel' needs kannel.password_file or IVR_SMS__KANNEL__PASSWORD "
                             "(the sendsms-user's password)")
        return self


class Settings(Section):
    state_dir: str = Field("", description="secrets and the SQLite file; default ~/.local/state/ivr")
    ari: AriSettings = AriSettings()
    pbx: PbxSettings = PbxSettings()
    flows: FlowSettings = FlowSettings()
    records: RecordSettings = RecordSettings()
    reports: ReportSettings = ReportSettings()
    agi: AgiSettings = AgiSettings()
    api: ApiSettings = ApiSettings()
    admission: AdmissionSettings = AdmissionSettings()
    agents: AgentSettings = AgentSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    sms: SmsSettings = SmsSettings()
    base_dir: str = Field("", exclude=True, description="where relative paths start")

    @field_validator("pbx")
    @classmethod
    def _app_among_apps(cls, pbx: PbxSettings, info: ValidationInfo) -> PbxSettings:
        ari = info.data.get("ari")
        if pbx.apps and isinstance(ari, AriSettings) and ari.app not in pbx.apps:
            raise ValueError(f"apps {list(pbx.apps)} lacks ari.app {ari.app!r}: the dialplan would never "
                             f"send this process a call (set IVR_ARI__APP to one of them)")
        return pbx

    @property
    def queue_log_path(self) -> Path:
        return self.path(self.reports.queue_log) if self.reports.queue_log else self.state_path / "queue_log"

    def path(self, value: str) -> Path:
        """A configured path, relative ones taken from the config file's folder."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir or ".") / candidate

    @property
    def state_path(self) -> Path:
        if self.state_dir:
            return self.path(self.state_dir)
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(xdg) / "ivr"

    @property
    def flow_path(self) -> Path:
        return self.path(self.flows.file) if self.flows.file else DEMO_FLOW

    @property
    def pid_path(self) -> Path:
        return self.state_path / f"run-{self.ari.app}.pid"

    @property
    def ari_url(self) -> str:
        if self.ari.url:
            return self.ari.url
        if self.pbx.tls:
            return f"https://127.0.0.1:{self.pbx.tls_port}"
        return f"http://127.0.0.1:{self.pbx.http_port}"


def config_path(explicit: str | None) -> Path | None:
    """The file to read: --config, then $IVR_CONFIG, then ./ivr.toml if present, else none."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load_settings(path: Path | None, environ: dict[str, str] | None = None) -> Settings:
    raw = load_raw(path, environ, top_level=frozenset({"state_dir"}))
    base = str(path.parent) if path else ""
    try:
        return Settings.model_validate({**raw.data, "base_dir": base})
    except ValidationError as exc:
        raise ConfigError(_problems(raw, exc)) from exc


def _problems(raw: RawConfig, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = ".".join(str(k) for k in loc) or "-"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        elif "input" in error and not isinstance(error["input"], dict):
            message = f"{message} (got {error['input']!r})"
        problems.append(Problem(raw.where(loc), field, message))
    return problems
