"""Asterisk's ``queue_log``, for every campaign the app runs: lines that tools reading app_queue's
log take unchanged.

A line is ``time|callid|queuename|agent|event|data1|data2|...``: Unix seconds, the caller's
channel id (``NONE`` for an agent's own event), the campaign, the agent's id (``NONE`` before
one answers), the event, then its data with app_queue's meanings (Asterisk's "Queue Logs"):

    1765101600|c1|sales|NONE|ENTERQUEUE||600|1           url|callerid|position
    1765101604|c1|sales|ana|RINGNOANSWER|4000            ringtime (ms)
    1765101609|c1|sales|bo|CONNECT|9|c1-agent-2|5       holdtime|bridgedchanneluniqueid|ringtime
    1765101651|c1|sales|bo|COMPLETECALLER|9|42|1        holdtime|calltime|origposition
    1765101700|c2|sales|NONE|ABANDON|1|2|12             position|origposition|waittime
    1765101800|c3|sales|NONE|EXITWITHTIMEOUT|1|1|300    position|origposition|waittime
    1765101900|c4|sales|NONE|EXITWITHKEY|0|1|1|20       key|position|origposition|waittime
    1765102000|NONE|NONE|ana|AGENTLOGIN|PJSIP/agent-ana channel
    1765102100|NONE|NONE|ana|AGENTLOGOFF|PJSIP/agent-ana|100   channel|logintime
    1765102200|NONE|sales|ana|PAUSE|lunch               reason (one line per campaign of the agent)
    1765102300|NONE|sales|ana|UNPAUSE|                  reason

Where app_queue has no event, the app adds its own, same shape: ``EXITWITHCALLBACK`` (the caller
left the line asking to be called back) and ``EXITWITHREDIRECT`` (sent elsewhere by a backend or
a pull campaign's staff), both ``position|origposition|waittime``; and ``CALLBACKATTEMPT``, a
callback's attempt that ended, under the callback's id: ``attempt|CONNECTED or FAILED|reason``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ivr.core.agents import State
from ivr.core.distribution.commands import LineEvent
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign

NONE = "NONE"
EXITS = {"timeout": "EXITWITHTIMEOUT", "key": "EXITWITHKEY", "callback": "EXITWITHCALLBACK",
         "sent": "EXITWITHREDIRECT"}
DATA_FIELDS = 5


@dataclass(frozen=True)
class QueueLogLine:
    time: float
    """Unix seconds."""
    callid: str
    queuename: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def text(self) -> str:
        """As app_queue writes it to the file (whole seconds).

        >>> QueueLogLine(1765101604.7, "c1", "sales", "ana", "RINGNOANSWER", ("4000",)).text()
        '1765101604|c1|sales|ana|RINGNOANSWER|4000'
        """
        fields = (str(int(self.time)), self.callid, self.queuename, self.agent, self.event, *self.data)
        return "|".join(_flat(field) for field in fields)


def _flat(field: str) -> str:
    """A pipe or a line break would shift every later field of the line (caller ids and pause
    reasons come from outside).

    >>> _flat("a|b\\nc")
    'a_b_c'
    """
    return field.replace("|", "_").replace("\n", "_").replace("\r", "_")


def _s(seconds: float) -> str:
    """Whole seconds, as app_queue's differences of time(NULL)."""
    return str(max(0, round(seconds)))


def line_of(event: LineEvent, now: float) -> QueueLogLine:
    """The queue_log line of one line event of the distribution engine."""
    agent = event.agent or NONE
    at = (now, event.call_id, event.campaign, agent)
    place = (str(event.position), str(event.first_position), _s(event.waited))
    match event.kind:
        case "entered":
            return QueueLogLine(*at, "ENTERQUEUE", ("", event.caller, str(event.position)))
        case "unanswered":
            return QueueLogLine(*at, "RINGNOANSWER", (str(round(event.rang * 1000)),))
        case "answered":
            return QueueLogLine(*at, "CONNECT", (_s(event.waited), event.leg, _s(event.rang)))
        case "ended":
            kind = "COMPLETECALLER" if event.by == "caller" else "COMPLETEAGENT"
            return QueueLogLine(*at, kind, (_s(event.waited), _s(event.talked), str(event.first_position)))
        case "abandoned":
            return QueueLogLine(*at, "ABANDON", place)
        case "left":
            exit_event = EXITS[event.how or "sent"]
            key = (event.key,) if event.how == "key" else ()
            return QueueLogLine(*at, exit_event, (*key, *place))
        case "callback":
            outcome = "CONNECTED" if event.connected else "FAILED"
            return QueueLogLine(*at, "CALLBACKATTEMPT", (str(event.attempt), outcome, _flat(event.why)))


@dataclass
class AgentSeen:
    state: State
    reason: str
    logged_in_at: float


class AgentEvents:
    """Turns the agents' board changes into AGENTLOGIN, AGENTLOGOFF, PAUSE and UNPAUSE lines: the
    board tells only who changed, so the last state seen of each agent is kept here."""

    def __init__(self) -> None:
        self.seen: dict[str, AgentSeen] = {}

    def know(self, agent: str, state: State, reason: str, now: float) -> None:
        """The state an agent has when the log starts (no line for it)."""
        self.seen[agent] = AgentSeen(state, reason, now)

    def lines(self, agent: str, state: State, reason: str, now: float, channel: str,
              campaigns: Iterable[str]) -> list[QueueLogLine]:
        """``campaigns``: those the agent serves (a PAUSE line for each, as app_queue writes
        one per queue of the member)."""
        before = self.seen.get(agent, AgentSeen(State.LOGGED_OUT, "", now))
        after = AgentSeen(state, reason, now if before.state is State.LOGGED_OUT else before.logged_in_at)
        self.seen[agent] = after
        queues = list(campaigns) or [NONE]
        out: list[QueueLogLine] = []
        if before.state is State.LOGGED_OUT and state is not State.LOGGED_OUT:
            out.append(QueueLogLine(now, NONE, NONE, agent, "AGENTLOGIN", (channel,)))
        if state is State.PAUSED and (before.state, before.reason) != (state, reason):
            out += [QueueLogLine(now, NONE, queue, agent, "PAUSE", (reason,)) for queue in queues]
        elif before.state is State.PAUSED and state not in (State.PAUSED, State.LOGGED_OUT):
            out += [QueueLogLine(now, NONE, queue, agent, "UNPAUSE", ("",)) for queue in queues]
        if state is State.LOGGED_OUT and before.state is not State.LOGGED_OUT:
            out.append(QueueLogLine(now, NONE, NONE, agent, "AGENTLOGOFF",
                                    (channel, _s(now - before.logged_in_at))))
        return out


def campaigns_of(flow: Flow, agent: str) -> list[str]:
    """The campaigns the agent serves, spare or not."""
    return [d.name for d, node in flow.nodes.items()
            if isinstance(node, Campaign) and (agent in node.agents or agent in node.overflow_agents)]
