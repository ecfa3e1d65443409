"""Fixtures for tests against the real Asterisk 22, started once per session by `ivr pbx up`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import REPO, App, Pbx, until
from tests.ports import free_port
from tests.postgres import own_database

TEST_SETTINGS = """
state_dir = "{state}"

[pbx]
instance = "{instance}"
root = "{root}"
http_port = {http}
sip_port = {sip}
ami_port = {ami}
rtp_start = 31000
rtp_end = 31999

[agi]
port = {agi}

[api]
port = {api}

[flows]
file = "{flow}"
"""

DEMO_FLOW = """
# The bundled demo flow with short timeouts and one attempt, to keep the tests quick.
[entry]
default = "identification:demo"

[identification.demo]
max_length = 10
attempts = 1
timeout = 2.0
inter_digit_timeout = 2.0
on_identified = "message:thanks"
on_not_identified = "message:thanks"

[message.thanks]
prompt = ["sound:ivr/thank-you-goodbye"]
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("pbx")
    http, ami, sip = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    config = base / "ivr.toml"
    agi = free_port()
    (base / "demo-flow.toml").write_text(DEMO_FLOW)
    # An instance per test session: two sessions at once (two checkouts, a helper's run) each
    # get their own Asterisk instead of reconfiguring one under the other's calls.
    name = f"test-{os.getpid()}"
    config.write_text(TEST_SETTINGS.format(instance=name, state=base / "state", root=REPO / ".pbx" / "root",
                                           http=http, sip=sip, ami=ami, agi=agi, api=free_port(),
                                           flow=base / "demo-flow.toml"))
    instance = Pbx(config=config, http_port=http, sip_port=sip, state_dir=base / "state", agi_port=agi,
                   instance=name)
    result = instance.ivr("pbx", "up", timeout=900)
    assert result.returncode == 0, f"ivr pbx up failed:\n{result.stdout}\n{result.stderr}"
    yield instance
    instance.ivr("pbx", "down")
    shutil.rmtree(instance.folder, ignore_errors=True)


@pytest.fixture
def app(pbx: Pbx, tmp_path: Path) -> Iterator[App]:
    running = App(pbx, tmp_path / "app.log")
    try:
        running.wait_connected(1)
        yield running
    finally:
        running.stop()


@pytest.fixture
def postgres() -> Iterator[str]:
    """A database of its own on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    with own_database("ivr_it") as url:
        yield url


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Like the Asterisk testsuite: every test leaves no channel and no bridge behind."""
    yield
    if "pbx" not in request.fixturenames:
        return
    pbx: Pbx = request.getfixturevalue("pbx")
    try:
        until(lambda: not pbx.channels(), 15, "every channel to be gone")
        until(lambda: not pbx.ari("GET", "/bridges"), 5, "every bridge to be gone")
    except AssertionError:
        # This test fails; the next ones must not fail for what it left.
        for kind, found in (("channels", pbx.channels()), ("bridges", pbx.ari("GET", "/bridges"))):
            for leftover in found:
                with contextlib.suppress(httpx.HTTPStatusError):
                    pbx.ari("DELETE", f"/{kind}/{leftover['id']}")
        with contextlib.suppress(AssertionError):
            until(lambda: not pbx.channels(), 5, "the leftovers to be hung up")
        if pbx.channels():
            # Asterisk keeps a channel it was told to hang up (seen once: a Local channel in
            # Stasis, hung up after leaving its bridge, stayed Up for good): a fresh Asterisk,
            # or every later test fails on it.
            pbx.ivr("pbx", "down")
            assert pbx.ivr("pbx", "up", timeout=900).returncode == 0
        raise
