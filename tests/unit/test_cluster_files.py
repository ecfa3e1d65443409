"""The cluster file and the Kamailio configuration rendered from it, checked by Kamailio itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ivr.cluster.kamailio_cfg import Files, dispatcher_list, render
from ivr.cluster.plan import load_plan
from ivr.config_file import ConfigError

NODE = """
state_dir = "state-{name}"
[ari]
app = "ivr-{name}"
[pbx]
instance = "t-{name}"
bind = "{address}"
proxy = "{proxy}"
[database]
url = "postgresql://127.0.0.1:5432/ivr"
"""


def cluster(folder: Path, proxy: str = "127.0.0.10:5060", algorithm: str = "call-id") -> Path:
    for name, address in (("a", "127.0.0.2"), ("b", "127.0.0.3")):
        (folder / f"node-{name}.toml").write_text(NODE.format(name=name, address=address, proxy=proxy))
    path = folder / "cluster.toml"
    path.write_text(f'[kamailio]\nlisten = "127.0.0.10"\nalgorithm = "{algorithm}"\nprobe_interval = 3\n'
                    '[node.a]\nconfig = "node-a.toml"\n[node.b]\nconfig = "node-b.toml"\n')
    return path


def test_the_nodes_are_dispatched_probed_and_failed_over(tmp_path: Path) -> None:
    plan = load_plan(cluster(tmp_path))
    files = Files(tmp_path / "kamailio")

    text = render(plan, files)

    assert dispatcher_list(plan.nodes).splitlines()[1:] == ["1 sip:127.0.0.2:5060 8 0 node=a",
                                                            "1 sip:127.0.0.3:5060 8 0 node=b"]
    assert 'ds_select_dst("1", "0")' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 3)' in text
    assert 'modparam("dispatcher", "ds_probing_mode", 1)' in text
    assert "ds_next_dst()" in text and 'lookup("location")' in text
    assert "listen=udp:127.0.0.10:5060" in text
    assert 'auth_check("127.0.0.10", "subscriber", "1")' in text  # a phone registers with its password


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="Kamailio not installed (scripts/bootstrap.sh)")
def test_kamailio_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    plan = load_plan(cluster(tmp_path, algorithm="round-robin"))
    files = Files(tmp_path / "kamailio")
    files.folder.mkdir()
    files.config.write_text(render(plan, files))
    files.dispatcher_list.write_text(dispatcher_list(plan.nodes))

    checked = subprocess.run(["kamailio", "-c", "-f", str(files.config)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stderr[-2000:]


def test_a_node_not_behind_this_kamailio_is_named_with_its_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_plan(cluster(tmp_path, proxy="127.0.0.11:5060"))

    assert [p.field for p in refused.value.problems] == ["pbx.proxy", "pbx.proxy"]
    assert "node-a.toml" in str(refused.value) and "'127.0.0.10:5060'" in str(refused.value)
