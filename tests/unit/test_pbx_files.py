"""The bundled PBX's files: mirror discovery and configuration rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.core.flow_tables import Agent
from ivr.pbx.instance import (
    TEMPLATES,
    Instance,
    agent_endpoints,
    fallback_dialplan,
    proxy_endpoint,
    render,
    template_values,
)
from ivr.pbx.rootfs import mirror_from_sources
from ivr.settings import FallbackSettings, load_settings


def test_mirror_comes_from_the_main_archive_not_security() -> None:
    sources = ["Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n",
               "Types: deb\nURIs: http://m.example/debian/\nSuites: bookworm\n"]

    assert mirror_from_sources(sources) == "http://m.example/debian"
    assert mirror_from_sources(["# nothing\n"]) is None


def test_an_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(KeyError, match=r"x\.conf: no value for placeholder"):
        render("a = {{missing}}", {}, "x.conf")


def test_every_template_renders_and_binds_to_loopback(tmp_path: object) -> None:
    settings = load_settings(None, {"IVR_STATE_DIR": str(tmp_path)})
    values = template_values(settings, Instance(root=tmp_path, name="demo"))  # type: ignore[arg-type]
    rendered = {t.name: render(t.read_text(), values, t.name) for t in TEMPLATES.glob("*.conf")}

    assert "bindaddr = 127.0.0.1" in rendered["http.conf"]
    assert "bind = 127.0.0.1:5060" in rendered["pjsip.conf"]
    assert f"password = {values['ari_password']}" in rendered["ari.conf"]
    assert len(values["ari_password"]) >= 32
    assert "{{" not in "".join(rendered.values())


def test_generated_passwords_are_kept_and_private(tmp_path: object) -> None:
    settings = load_settings(None, {"IVR_STATE_DIR": str(tmp_path)})
    instance = Instance(root=tmp_path, name="demo")  # type: ignore[arg-type]
    first = template_values(settings, instance)["ari_password"]

    assert template_values(settings, instance)["ari_password"] == first
    secret = settings.state_path / "pbx" / "demo" / "ari-password"
    assert secret.stat().st_mode & 0o777 == 0o600


def test_fallback_kinds_render_to_dialplan() -> None:
    assert "Playback(ss-noservice)" in fallback_dialplan(FallbackSettings())
    assert fallback_dialplan(FallbackSettings(kind="goto", context="operators")) == (
        " same => n,Goto(operators,s,1)")
    assert "Dial(PJSIP/operator,30)" in fallback_dialplan(FallbackSettings(kind="dial", dial="PJSIP/operator"))
    assert fallback_dialplan(FallbackSettings(kind="busy")) == " same => n,Hangup(17)"


def test_links_are_followed_inside_the_root_not_on_the_host(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/share/sounds/en_US").mkdir(parents=True)
    (root / "etc/alternatives").mkdir(parents=True)
    (root / "etc/alternatives/prompt-en").symlink_to("/usr/share/sounds/en_US")
    (root / "usr/share/sounds/en").symlink_to("/etc/alternatives/prompt-en")

    resolved = Instance(root=root, name="demo").resolved_path("/usr/share/sounds/en")

    assert resolved == root / "usr/share/sounds/en_US"


def test_with_a_proxy_registered_agents_are_called_through_it_and_its_calls_come_in() -> None:
    agents = {"ana": Agent(phone="register"), "bo": Agent(phone="sip:bo@127.0.0.1:5099")}
    secrets = Path("/nonexistent")  # no password is generated: the proxy is the registrar

    rendered = agent_endpoints(agents, secrets, "127.0.0.2", "127.0.0.10:5060")

    assert "contact = sip:agent-ana@127.0.0.10:5060" in rendered
    assert "contact = sip:bo@127.0.0.1:5099" in rendered
    assert "type = auth" not in rendered and "auth = " not in rendered
    assert "match = 127.0.0.10" in proxy_endpoint("127.0.0.10:5060", "127.0.0.2")
