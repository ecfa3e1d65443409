"""Reading a flow file: every problem is reported at once, each naming file, line, node and field.

A flow file is TOML: an ``[entry]`` table (dialled number -> destination), one table per node
(``[menu.main]``, ``[identification.customer]`` ...), time groups (``[[timegroup.office]]``)
and trunks (``[trunk.provider]``). ``docs/flows.md`` describes every field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ivr.config_file import ConfigError, Problem, RawConfig, load_raw
from ivr.core.destinations import HANG_UP, Destination
from ivr.core.fields import PATTERN_HELP, Table
from ivr.core.flow import DEFAULT_ENTRY, Flow
from ivr.core.flow_tables import Agent, TimeGroupRule, Trunk
from ivr.core.nodes import (
    NODE_KINDS,
    CallbackRequest,
    Campaign,
    Coded,
    External,
    Identification,
    Menu,
    Message,
    Node,
    TimeCondition,
    parse_destination,
)
from ivr.core.timegroups import TimeRule

NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
ENTRY_KEY = re.compile(rf"^([0-9+*#]{{1,40}}|{DEFAULT_ENTRY})$")
TABLES = ("entry", "timegroup", "trunk", "agent", *NODE_KINDS)
Loc = tuple[str, ...]
M = TypeVar("M", bound=Table)


def load_flow(path: Path, environ: Mapping[str, str] | None = None) -> Flow:
    raw = load_raw(path, environ={})
    reader = _Reader(raw, os.environ if environ is None else environ)
    flow = reader.read()
    if reader.problems:
        raise ConfigError(reader.problems)
    return flow


class _Reader:
    def __init__(self, raw: RawConfig, environ: Mapping[str, str]) -> None:
        self.raw = raw
        self.environ = environ
        self.problems: list[Problem] = []
        self.invalid: set[Destination] = set()
        """Nodes written but refused: references to them are not reported twice."""
        self.refused_fields: dict[Loc, set[str]] = {}

    def problem(self, loc: Loc, message: str) -> None:
        node = f"[{loc[0]}.{loc[1]}]" if len(loc) > 1 and loc[0] not in ("entry",) else f"[{loc[0]}]"
        field = ".".join(loc[2:]) if node != f"[{loc[0]}]" else ".".join(loc[1:])
        self.problems.append(Problem(self.raw.where(loc), f"{node} {field}".strip(), message))

    def read(self) -> Flow:
        data = self.raw.data
        for key, value in data.items():
            if key not in TABLES:
                self.problem(_table_loc(key, value), f"unknown table (expected one of {', '.join(TABLES)})")
        nodes: dict[Destination, Node] = {}
        partial: dict[Destination, Node] = {}
        """Refused nodes read without their refused fields: their other fields are checked too."""
        for kind, node_kind in NODE_KINDS.items():
            for name, body in self._named(kind):
                if (node := self._validate(node_kind.model, body, (kind, name))) is not None:
                    nodes[Destination(kind, name)] = node
                    continue
                self.invalid.add(Destination(kind, name))
                if (rest := self._without_refused(node_kind.model, body, (kind, name))) is not None:
                    partial[Destination(kind, name)] = rest
        trunks = {name: trunk for name, body in self._named("trunk")
                  if isinstance(trunk := self._validate(Trunk, body, ("trunk", name)), Trunk)}
        agents = {name: agent for name, body in self._named("agent")
                  if isinstance(agent := self._validate(Agent, body, ("agent", name)), Agent)}
        timegroups = self._timegroups()
        entries = self._entries(nodes)
        zones = self._check(nodes, trunks, timegroups, partial)
        self._members({**nodes, **partial}, agents)
        self._agent_trunks(agents, trunks)
        return Flow(nodes, entries, timegroups, trunks, zones, str(self.raw.path or ""), agents)

    def _agent_trunks(self, agents: Mapping[str, Agent], trunks: Mapping[str, Trunk]) -> None:
        for name, agent in agents.items():
            if agent.trunk:
                self._through_trunk(agent.trunk, agent.phone, ("agent", name), "phone", trunks)

    def _members(self, nodes: Mapping[Destination, Node], agents: Mapping[str, Agent]) -> None:
        for destination, node in nodes.items():
            if not isinstance(node, Campaign):
                continue
            for field in ("agents", "overflow_agents"):
                for index, agent in enumerate(getattr(node, field)):
                    if agent not in agents:
                        self.problem((destination.kind, destination.name, field, str(index)),
                                     f"no agent {agent!r} ([agent.{agent}])")
            if node.strategy == "skills" and not node.skills:
                self.problem((destination.kind, destination.name, "strategy"),
                             "strategy 'skills' needs 'skills', e.g. { billing = 2 }")

    def _named(self, table: str) -> Iterator[tuple[str, Any]]:
        section = self.raw.data.get(table, {})
        if not isinstance(section, dict):
            self.problem((table,), f"expected tables [{table}.<name>]")
            return
        for name, body in section.items():
            if not NAME.match(name):
                self.problem((table, name), "a name is 1-40 of a-z 0-9 _ - (lower case, no spaces)")
            elif not isinstance(body, (dict, list)):
                self.problem((table, name), f"expected a table [{table}.{name}]")
            else:
                yield name, body
                continue
            self.invalid.add(Destination(table, name))

    def _validate(self, model: type[M], body: Any, loc: Loc) -> M | None:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            errors = exc.errors()
            self.refused_fields[loc] = {str(error["loc"][0]) for error in errors if error["loc"]}
            for error in errors:
                where = (*loc, *(str(k) for k in error["loc"] if k != "[key]"))
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "too_short" and _inside(error["loc"], errors):
                    continue  # a list whose items were all refused: its items are reported
                if error["type"] == "string_pattern_mismatch":
                    message = PATTERN_HELP.get(str(error.get("ctx", {}).get("pattern")), message)
                if error["type"] == "extra_forbidden":
                    message = "unknown field (misspelt?)"
                elif error["type"] == "missing":
                    message = "required field missing"
                elif ("input" in error and not isinstance(error["input"], dict)
                      and not (isinstance(error["input"], str) and repr(error["input"]) in message)):
                    # A number is always shown: "greater than 0" does not say that 0 was given.
                    message = f"{message} (got {error['input']!r})"
                self.problem(where, message)
            return None

    def _without_refused(self, model: type[M], body: Any, loc: Loc) -> M | None:
        """The node as if its refused fields were not written, when that is a valid node."""
        refused = self.refused_fields.get(loc, set())
        if not isinstance(body, dict) or not refused:
            return None
        try:
            return model.model_validate({key: value for key, value in body.items() if key not in refused})
        except ValidationError:
            return None

    def _timegroups(self) -> dict[str, tuple[TimeRule, ...]]:
        groups: dict[str, tuple[TimeRule, ...]] = {}
        for name, body in self._named("timegroup"):
            rules = body if isinstance(body, list) else [body]
            valid = [self._validate(TimeGroupRule, rule, ("timegroup", name, str(index)))
                     for index, rule in enumerate(rules)]
            groups[name] = tuple(rule.rule() for rule in valid if rule is not None)
        return groups

    def _entries(self, nodes: Mapping[Destination, Node]) -> dict[str, Destination]:
        table = self.raw.data.get("entry")
        if not isinstance(table, dict) or not table:
            self.problem(("entry",), 'no [entry] table: map each dialled number to a node, '
                         'e.g. "100" = "menu:main", or default = "..."')
            return {}
        entries: dict[str, Destination] = {}
        for key, value in table.items():
            if not ENTRY_KEY.match(key):
                self.problem(("entry", key), f"expected a dialled number (0-9 + * #) or {DEFAULT_ENTRY!r}")
            elif (destination := self._reference(value, ("entry", key), nodes)) is not None:
                entries[key] = destination
        return entries

    def _reference(self, value: object, loc: Loc, nodes: Mapping[Destination, Node]) -> Destination | None:
        try:
            destination = value if isinstance(value, Destination) else parse_destination(str(value))
        except ValueError as exc:
            self.problem(loc, str(exc))
            return None
        if destination != HANG_UP and destination not in nodes:
            if destination not in self.invalid:
                self.problem(loc, f"no node {destination} in this file")
            return None
        return destination

    def _check(self, nodes: Mapping[Destination, Node], trunks: Mapping[str, Trunk],
               timegroups: Mapping[str, tuple[TimeRule, ...]],
               partial: Mapping[Destination, Node]) -> dict[str, ZoneInfo]:
        """Each node's references and settings; ``partial`` nodes are checked, not referred to."""
        zones: dict[str, ZoneInfo] = {}
        ids: dict[tuple[str, int], str] = {}
        for destination, node in {**nodes, **partial}.items():
            loc = (destination.kind, destination.name)
            for field, target in _destinations(node):
                self._reference(target, (*loc, *field), nodes)
            if isinstance(node, Coded) and node.id is not None:
                if (other := ids.get((destination.kind, node.id))) is not None:
                    self.problem((*loc, "id"), f"id {node.id} is also used by {destination.kind}:{other}")
                ids[(destination.kind, node.id)] = destination.name
            if isinstance(node, TimeCondition):
                self._time(node, loc, timegroups, zones)
            if isinstance(node, Campaign) and (node.overflow_hours or node.overflow_daily_limit):
                self._zone(node.overflow_timezone, (*loc, "overflow_timezone"), zones)
                self._groups(node.overflow_hours, (*loc, "overflow_hours"), timegroups)
            if isinstance(node, External):
                self._external(node, loc, trunks)
            if isinstance(node, CallbackRequest):
                self._callback(node, loc, nodes, trunks, timegroups, zones)
            if isinstance(node, Campaign) and node.callback:
                self._callback_of(node.callback, destination.name, loc, nodes)
            if isinstance(node, Campaign) and node.backend_secret_env:
                if len(self.environ.get(node.backend_secret_env, "")) < 16:
                    self.problem((*loc, "backend_secret_env"),
                                 f"environment variable {node.backend_secret_env} is not set, or shorter "
                                 f"than 16 characters")
            if isinstance(node, Campaign):
                for index, trunk in enumerate(node.backend_trunks):
                    if trunk not in trunks:
                        self.problem((*loc, "backend_trunks", str(index)),
                                     f"no trunk {trunk!r} ([trunk.{trunk}])")
            if isinstance(node, Identification) and node.authorization_env:
                if not self.environ.get(node.authorization_env):
                    self.problem((*loc, "authorization_env"),
                                 f"environment variable {node.authorization_env} is not set")
        return zones

    def _callback(self, node: CallbackRequest, loc: Loc, nodes: Mapping[Destination, Node],
                  trunks: Mapping[str, Trunk], timegroups: Mapping[str, tuple[TimeRule, ...]],
                  zones: dict[str, ZoneInfo]) -> None:
        campaign = nodes.get(Destination("campaign", node.campaign))
        if not isinstance(campaign, Campaign):
            if Destination("campaign", node.campaign) not in self.invalid:
                self.problem((*loc, "campaign"), f"no node campaign:{node.campaign} in this file")
        elif not campaign.runs_in_app:
            self.problem((*loc, "campaign"),
                         f"campaign {node.campaign} has no agents: only one the app runs can call back")
        if node.trunk not in trunks:
            self.problem((*loc, "trunk"), f"no trunk {node.trunk!r} ([trunk.{node.trunk}])")
        if node.hours:
            self._zone(node.timezone, (*loc, "timezone"), zones)
            self._groups(node.hours, (*loc, "hours"), timegroups)

    def _callback_of(self, name: str, campaign: str, loc: Loc, nodes: Mapping[Destination, Node]) -> None:
        node = nodes.get(Destination("callback", name))
        if not isinstance(node, CallbackRequest):
            if Destination("callback", name) not in self.invalid:
                self.problem((*loc, "callback"), f"no node callback:{name} in this file")
        elif node.campaign != campaign:
            self.problem((*loc, "callback"), f"callback:{name} calls back for campaign {node.campaign}, "
                         f"not {campaign}")

    def _time(self, node: TimeCondition, loc: Loc, timegroups: Mapping[str, tuple[TimeRule, ...]],
              zones: dict[str, ZoneInfo]) -> None:
        self._zone(node.timezone, (*loc, "timezone"), zones)
        self._groups(node.open, (*loc, "open"), timegroups)
        self._groups(node.closed, (*loc, "closed"), timegroups)

    def _zone(self, name: str, loc: Loc, zones: dict[str, ZoneInfo]) -> None:
        try:
            zones[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(loc, f"unknown time zone {name!r} (e.g. Europe/Madrid)")

    def _groups(self, groups: tuple[str, ...], loc: Loc,
                timegroups: Mapping[str, tuple[TimeRule, ...]]) -> None:
        for group in groups:
            if group not in timegroups:
                self.problem(loc, f"no time group {group!r} ([[timegroup.{group}]])")

    def _external(self, node: External, loc: Loc, trunks: Mapping[str, Trunk]) -> None:
        self._through_trunk(node.trunk, node.number, loc, "number", trunks)

    def _through_trunk(self, name: str, number: str, loc: Loc, field: str,
                       trunks: Mapping[str, Trunk]) -> None:
        trunk = trunks.get(name)
        if trunk is None:
            self.problem((*loc, "trunk"), f"no trunk {name!r} ([trunk.{name}])")
        elif not trunk.allows(number):
            self.problem((*loc, field),
                         f"{number} is not in the allow list of trunk {name} ({', '.join(trunk.allow)})")


def _table_loc(key: str, value: object) -> Loc:
    """An unknown table written as ``[menus.main]`` is located by its first sub-table: the
    line finder matches whole headers only."""
    first = next(iter(value.items()), None) if isinstance(value, dict) else None
    return (key, first[0]) if first is not None and isinstance(first[1], dict) else (key,)


def _inside(loc: tuple[int | str, ...], errors: list[ErrorDetails]) -> bool:
    """Whether another error is about an item of the field at ``loc``."""
    return any(len(e["loc"]) > len(loc) and e["loc"][:len(loc)] == loc for e in errors)


def _destinations(node: Node) -> Iterator[tuple[Loc, Destination]]:
    match node:
        case Identification():
            if node.on_identified is not None:
                yield ("on_identified",), node.on_identified
            yield ("on_not_identified",), node.on_not_identified
            if node.on_unavailable is not None:
                yield ("on_unavailable",), node.on_unavailable
        case Menu():
            for key, target in node.options.items():
                yield ("options", key), target
            yield ("on_failure",), node.on_failure
        case TimeCondition():
            yield ("on_match",), node.on_match
            yield ("otherwise",), node.otherwise
        case Message():
            yield ("then",), node.then
        case Campaign():
            yield ("on_max_wait",), node.on_max_wait
            if node.on_exit is not None:
                yield ("on_exit",), node.on_exit
