"""`ivr check` reports every problem of every node at once: a node refused for one field still
has its references and members checked."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ivr.config_file import ConfigError
from ivr.flow_file import load_flow


def test_a_refused_node_still_has_its_references_and_agents_checked(tmp_path: Path) -> None:
    path = tmp_path / "flow.toml"
    path.write_text(textwrap.dedent("""\
        [entry]
        default = "identification:a"

        [identification.a]
        max_length = "x"
        on_identified = "message:nope"
        on_not_identified = "campaign:b"

        [campaign.b]
        agents = ["zed"]
        strategy = "bogus"
        on_max_wait = "menu:gone"
        """))

    with pytest.raises(ConfigError) as raised:
        load_flow(path)

    assert sorted(str(problem).replace(str(path), "flow.toml") for problem in raised.value.problems) == sorted([
        "flow.toml:5: [identification.a] max_length: Input should be a valid integer, unable to parse string "
        "as an integer (got 'x')",
        "flow.toml:6: [identification.a] on_identified: no node message:nope in this file",
        "flow.toml:10: [campaign.b] agents.0: no agent 'zed' ([agent.zed])",
        "flow.toml:11: [campaign.b] strategy: expected one of ring-all, longest-idle, ordered, skills, "
        "lowest-cost, weighted-random (got 'bogus')",
        "flow.toml:12: [campaign.b] on_max_wait: no node menu:gone in this file",
    ])


def test_a_number_out_of_range_says_what_was_given(tmp_path: Path) -> None:
    """"greater than 0" alone does not tell a timeout of 0 from one of -5."""
    path = tmp_path / "flow.toml"
    path.write_text('[entry]\ndefault = "identification:a"\n\n[identification.a]\ntimeout = 0\n'
                    'on_not_identified = "hangup"\n')

    with pytest.raises(ConfigError) as raised:
        load_flow(path)

    assert [str(problem).replace(str(path), "flow.toml") for problem in raised.value.problems] == [
        "flow.toml:5: [identification.a] timeout: Input should be greater than 0 (got 0)"]
