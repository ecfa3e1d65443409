"""`ivr doctor`'s checks, each from what Asterisk and the settings say."""

from __future__ import annotations

from ivr import doctor
from ivr.core.destinations import Destination
from ivr.core.flow import Flow


def test_ari_is_fine_on_the_loopback_or_over_tls_and_a_problem_in_clear_over_the_network() -> None:
    assert doctor.ari_transport("http://127.0.0.1:8088").status == "ok"
    assert doctor.ari_transport("https://pbx.example:8089").status == "ok"
    clear = doctor.ari_transport("http://192.0.2.7:8088")
    assert clear.status == "problem" and "plain HTTP over the network" in clear.message
    assert "ari-over-tls" in clear.fix


def test_a_short_or_repetitive_password_is_weak_and_the_fix_makes_a_random_one() -> None:
    for weak in ("asterisk", "aaaaaaaaaaaaaaaaaaaa", "1234567812345678"):
        finding = doctor.password_strength(weak)
        assert finding.status == "problem", weak
        assert "secrets.token_urlsafe" in finding.fix
    assert doctor.password_strength("Jx9_fR2mQp7vLw4tZ8cN").status == "ok"


def test_ami_and_fastagi_beyond_the_loopback_are_problems() -> None:
    assert doctor.ami_exposure("127.0.0.1:5038", False).status == "ok"
    assert doctor.ami_exposure("0.0.0.0:5038", True).status == "problem"
    assert doctor.ami_exposure("pbx:5038", None).status == "unchecked"
    assert doctor.fastagi_bind("127.0.0.1", 4573).status == "ok"
    exposed = doctor.fastagi_bind("0.0.0.0", 4573)
    assert exposed.status == "problem" and "agi.bind = 127.0.0.1" in exposed.fix


def test_asterisk_older_than_22_or_not_answering_is_a_problem() -> None:
    assert doctor.asterisk_version("22.0.0").status == "ok"
    assert doctor.asterisk_version("23.1.0-rc1").status == "ok"
    assert doctor.asterisk_version("18.20.0").status == "problem"
    silent = doctor.asterisk_version(None, "Connection refused")
    assert silent.status == "problem" and "Connection refused" in silent.message


def test_the_contexts_the_flow_needs_are_looked_for_and_the_missing_named() -> None:
    flow = Flow({Destination("voicemail", "sales"): None, Destination("menu", "m"): None}, {})  # type: ignore[dict-item]
    assert doctor.needed_contexts(flow) == ["ivr-inbound", "ivr-stasis", "ivr-fallback", "ivr-voicemail"]
    present = "[ Context 'ivr-inbound' created by 'pbx_config' ]\n"
    finding = doctor.dialplan({"ivr-inbound": present,
                               "ivr-stasis": "There is no existence of 'ivr-stasis' context\n"}, "cli")
    assert finding.status == "problem" and finding.message == "contexts missing (cli): ivr-stasis"
    assert doctor.dialplan(None, "no CLI").status == "unchecked"


def test_only_problems_fail_and_the_text_gives_each_fix() -> None:
    findings = [doctor.fastagi_bind("127.0.0.1", 4573), doctor.ami_exposure("pbx:5038", None)]
    assert not doctor.failed(findings)
    findings.append(doctor.fastagi_bind("0.0.0.0", 4573))
    assert doctor.failed(findings)
    assert doctor.text(findings).splitlines()[-2:] == [
        "problem   fastagi bind: ivr agi listens on 0.0.0.0:4573: FastAGI has no authentication, anyone "
        "reaching it can run the identification nodes (and the CRM lookups)",
        "          fix: set agi.bind = 127.0.0.1 with Asterisk on the same machine; otherwise allow only "
        "Asterisk's address in a firewall"]
