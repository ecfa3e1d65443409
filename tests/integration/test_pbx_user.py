"""The bundled Asterisk runs as a user of its own: Debian's package makes `asterisk` a system
user (often uid 101), which on many hosts is someone else (Debian's postgres)."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from ivr.pbx.rootfs import OWN_IDS, _id_of
from tests.integration.harness import REPO, Pbx


def test_the_asterisk_user_has_an_id_no_user_of_the_host_has(pbx: Pbx) -> None:
    uid = _id_of((REPO / ".pbx" / "root" / "etc" / "passwd").read_text(), "asterisk")

    assert uid in OWN_IDS
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    assert (pbx.folder / "etc" / "ari.conf").stat().st_uid == uid
    pid = (pbx.folder / "run" / "asterisk.pid").read_text().strip()
    status = (Path("/proc") / pid / "status").read_text()
    assert f"Uid:\t{uid}\t" in status, status
