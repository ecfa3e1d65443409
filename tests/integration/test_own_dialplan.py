"""The admin's own dialplan (pbx.extensions_include) survives `ivr pbx up`: a campaign routed in
Asterisk reaches the admin's Queue() (here, a stand-in), and one nobody routes says so in
Asterisk's log before the fallback."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import App, Pbx, until
from tests.ports import free_port

FLOW = """
[entry]
"700" = "campaign:own-queue"
"701" = "campaign:nobodys"

[campaign.own-queue]

[campaign.nobodys]
"""

OWN = """
[ivr-campaign]
exten => own-queue,1,NoOp(the admin's own queue for ${EXTEN})
 same => n,Set(IVR_OWN_QUEUE=reached)
 same => n,Hangup()
"""


def test_the_admins_dialplan_is_kept_and_an_unrouted_campaign_is_logged(pbx: Pbx, tmp_path: Path) -> None:
    own = tmp_path / "extensions_custom.conf"
    own.write_text(OWN)
    port = free_port()
    config = pbx.configured(tmp_path, FLOW, f"\n[api]\nport = {port}\n")
    env = {"IVR_PBX__EXTENSIONS_INCLUDE": str(own)}
    assert pbx.ivr("pbx", "up", config=config, env=env).returncode == 0
    app = App(pbx, tmp_path / "app.log", config=config)
    try:
        app.wait_connected(1)
        routed = pbx.call("700", "--timeout", "10", config=config)
        unrouted = pbx.call("701", "--timeout", "10", config=config)
    finally:
        app.stop()
        assert pbx.ivr("pbx", "up").returncode == 0  # the session's own configuration again

    assert any("the admin's own queue for own-queue" in step for step in routed["dialplan"]), routed
    assert not any("the admin's own queue" in step for step in unrouted["dialplan"]), unrouted
    until(lambda: "campaign nobodys has no agents in the flow file and no Queue() here" in pbx.asterisk_log(),
          5, "the warning in Asterisk's log")
