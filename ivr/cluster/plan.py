"""The cluster file (cluster.toml): Kamailio's address and its choices, and the nodes, each an
ivr settings file of its own (its PBX instance, address, app and API)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from ivr.config_file import ConfigError, Problem, load_raw
from ivr.flow_file import load_flow
from ivr.settings import Section, Settings, load_settings

ALGORITHMS = {"call-id": 0, "round-robin": 4}
"""Kamailio dispatcher's numbers: hash over Call-ID keeps a call's retransmissions on one node
even across restarts of Kamailio; round-robin spreads a burst evenly."""


class KamailioSettings(Section):
    listen: str = Field("127.0.0.10", pattern=r"^[A-Za-z0-9.\-]+$", description="Kamailio's address")
    port: int = Field(5060, ge=1, le=65535)
    algorithm: Literal["round-robin", "call-id"] = "round-robin"
    probe_interval: int = Field(2, ge=1, le=300, description="seconds between SIP OPTIONS to each node")
    probe_timeout: float = Field(1.5, ge=0.5, le=30, description="seconds without a reply before a "
                                 "probe (or an INVITE without 100 Trying) fails")
    children: int = Field(4, ge=1, le=64, description="Kamailio's UDP worker processes")

    @property
    def address(self) -> str:
        return f"{self.listen}:{self.port}"


class NodeEntry(Section):
    config: str = Field(description="the node's ivr settings file, relative to the cluster file")


class ClusterFile(Section):
    state_dir: str = Field(".cluster", description="Kamailio's files and the nodes' logs and pids")
    database: str = Field("", description="PostgreSQL URL of Kamailio's location table; empty: the "
                          "first node's database.url")
    kamailio: KamailioSettings = KamailioSettings()
    node: dict[str, NodeEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Node:
    name: str
    config: Path
    settings: Settings

    @property
    def sip_uri(self) -> str:
        return f"sip:{self.settings.pbx.bind}:{self.settings.pbx.sip_port}"


@dataclass(frozen=True)
class Plan:
    path: Path
    state: Path
    database: str
    kamailio: KamailioSettings
    nodes: tuple[Node, ...]

    @property
    def phones(self) -> Path:
        """Where each registering agent's phone password is kept (``agent-NAME``, mode 0600)."""
        return self.state / "phones"

    def registering_agents(self) -> list[str]:
        """The agents whose phone registers (``phone = "register"``) in any node's flow."""
        return sorted({name for node in self.nodes for name, agent in
                       load_flow(node.settings.flow_path).agents.items() if agent.phone == "register"})

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError([Problem(str(self.path), f"node.{name}", "no such node (nodes: "
                                   f"{', '.join(n.name for n in self.nodes)})")])


def load_plan(path: Path) -> Plan:
    raw = load_raw(path, {})
    try:
        parsed = ClusterFile.model_validate(raw.data)
    except ValidationError as exc:
        raise ConfigError([Problem(raw.where(tuple(e["loc"])), ".".join(map(str, e["loc"])), e["msg"])
                           for e in exc.errors()]) from exc
    nodes = tuple(Node(name, path.parent / entry.config, load_settings(path.parent / entry.config))
                  for name, entry in parsed.node.items())
    _check_nodes(path, parsed.kamailio, nodes)
    database = parsed.database or nodes[0].settings.database.url
    if not database.startswith("postgresql"):
        raise ConfigError([Problem(str(path), "database", "Kamailio's location needs PostgreSQL "
                                   f"(got {database!r}); set database or the nodes' database.url")])
    return Plan(path, (path.parent / parsed.state_dir).resolve(), database, parsed.kamailio, nodes)


def _check_nodes(path: Path, kamailio: KamailioSettings, nodes: tuple[Node, ...]) -> None:
    problems = []
    for node in nodes:
        if node.settings.pbx.proxy != kamailio.address:
            problems.append(Problem(str(node.config), "pbx.proxy", f"node {node.name}: must be "
                                    f"{kamailio.address!r}, Kamailio's address "
                                    f"(got {node.settings.pbx.proxy!r})"))
    seen: dict[str, str] = {}
    for node in nodes:
        if node.sip_uri in seen:
            problems.append(Problem(str(node.config), "pbx.bind", f"node {node.name}: {node.sip_uri} "
                                    f"is node {seen[node.sip_uri]}'s too"))
        seen[node.sip_uri] = node.name
    if problems:
        raise ConfigError(problems)
