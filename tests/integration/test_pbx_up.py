"""`ivr pbx up` on a PBX that already runs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.integration.harness import Pbx
from tests.ports import free_port


def test_a_changed_sip_port_restarts_the_running_pbx_on_the_new_one(pbx: Pbx, tmp_path: Path) -> None:
    """A reload would leave the UDP transport on the old port: every call would then fail."""
    first, second = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    env = {"IVR_PBX__INSTANCE": f"sip-port-{os.getpid()}", "IVR_STATE_DIR": str(tmp_path / "state"),
           "IVR_PBX__HTTP_PORT": str(free_port()), "IVR_PBX__AMI_PORT": str(free_port()),
           "IVR_PBX__SIP_PORT": str(first)}
    moved = {**env, "IVR_PBX__SIP_PORT": str(second)}
    try:
        started = pbx.ivr("pbx", "up", env=env)
        assert started.returncode == 0, started.stderr
        again = pbx.ivr("pbx", "up", env=moved)
        transports = pbx.ivr("pbx", "cli", "pjsip show transports", env=moved).stdout
    finally:
        pbx.ivr("pbx", "down", env=moved)

    assert again.returncode == 0, again.stderr
    assert "the SIP transport changed" in again.stderr
    assert f"127.0.0.1:{second}" in transports and f":{first}" not in transports, transports
