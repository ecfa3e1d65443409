"""Staff pulling calls: by an SMS reply (through the SMS routes), or through the API.

    GET  /api/campaigns/{campaign}/pulled                       the calls open to claims, oldest first
    POST /api/campaigns/{campaign}/pulled/{code}/take           ring my phone and bridge me
    POST /api/campaigns/{campaign}/pulled/{code}/voicemail      send the caller to voicemail

An agent's token acts for that agent, in the pull campaigns they are staff of; the supervisor's
names the agent (``?agent=ana``). Either way the same claim in the store decides: the first wins,
whatever node or channel it came through; the node holding the caller carries it out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ivr.core import pull
from ivr.core.destinations import Destination
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.sms.gateway import InboundSms, SmsError, SmsGateway
from ivr.store.pulls import CLOSED, OPEN, Lost, PulledCall, PullStore, Which, Won

log = logging.getLogger("ivr.pull")

SUPERVISOR = "*"
HUNG_UP = "the caller hung up"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Answer:
    """What a claim came to: an HTTP status for the API, a text for an SMS."""

    status: int
    text: str
    """"" when the claim won: the node holding the caller answers by SMS once it acts."""


class PullDesk:
    def __init__(self, store: PullStore, flow: Callable[[], Flow], sms: SmsGateway | None,
                 poke: Callable[[], None], wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.flow = flow
        self.sms = sms
        self.poke = poke
        self.wall = wall

    def campaigns_of(self, agent: str) -> dict[str, Campaign]:
        """The pull campaigns the agent is staff of."""
        return {d.name: node for d, node in self.flow().nodes.items()
                if isinstance(node, Campaign) and node.pull and agent in node.agents}

    async def on_sms(self, sms: InboundSms) -> None:
        agents = self.flow().agents
        agent = next((name for name, config in agents.items()
                      if config.mobile and pull.same_number(sms.sender, config.mobile)), None)
        if agent is None:
            log.warning("SMS from %s ignored: no agent has that mobile (%r)", sms.sender, sms.text[:40])
            return
        mobile, campaigns = agents[agent].mobile, self.campaigns_of(agent)
        reply = _read(sms.text, campaigns)
        match reply:
            case pull.CarrierWord(kind="opt-out"):
                await self.store.opt_out(mobile)
                log.info("agent %s opted out of SMS notifications", agent)
                await self._text(agent, mobile, pull.OPTED_OUT)
            case pull.CarrierWord(kind="opt-in"):
                await self.store.opt_in(mobile)
                log.info("agent %s opted in to SMS notifications again", agent)
                await self._text(agent, mobile, pull.OPTED_IN)
            case pull.CarrierWord(kind="help"):
                await self._text(agent, mobile, pull.help_text(_words(campaigns)))
            case pull.Unreadable(why=why):
                log.warning("SMS from agent %s ignored: %s (%r)", agent, why, sms.text[:40])
            case pull.Command(action=action, code=code):
                answer = await self.claim(agent, campaigns, code, action, "sms")
                if answer.text:
                    await self._text(agent, mobile, answer.text)

    async def claim(self, agent: str, campaigns: dict[str, Campaign], code: int | None, action: pull.Action,
                    via: str) -> Answer:
        if not campaigns:
            return Answer(404, f"{agent} is staff of no pull campaign")
        if action == "voicemail" and not any(node.voicemail_to for node in campaigns.values()):
            return Answer(409, pull.no_voicemail(code))
        try:
            result = await self.store.claim(code, campaigns, agent, action, via)
        except (SQLAlchemyError, OSError) as exc:
            log.error("claim of %s on call %s not stored: %s", agent, code, exc)
            return Answer(503, "The claim could not be stored; try again.")
        match result:
            case Won(call=call):
                log.info("call %d (%s): %s by %s (%s)", call.code, call.campaign, action, agent, via)
                if call.node == self.store.node:
                    self.poke()
                return Answer(202, "")
            case Lost(call=None):
                return Answer(404, pull.unknown(code))
            case Lost(call=call) if call is not None:
                return Answer(409 if call.state != CLOSED or call.outcome != HUNG_UP else 410,
                              self._why_lost(call))
            case Which(codes=codes):
                return Answer(404 if not codes else 409,
                              pull.which(list(codes), _words(campaigns)) if codes else pull.unknown(None))
        raise AssertionError(result)

    def _why_lost(self, call: PulledCall) -> str:
        if call.state == OPEN:
            return pull.open_again(call.code)
        taker = self.flow().agents.get(call.taker)
        by = (taker.name if taker is not None and taker.name else call.taker)
        served = call.state != CLOSED or call.outcome.startswith(("taken", "sent"))
        if call.taker and served:
            return pull.already_taken(call.code, by, call.action)
        if call.outcome == HUNG_UP:
            return pull.hung_up(call.code)
        return pull.not_waiting(call.code, call.outcome)

    async def _text(self, agent: str, number: str, text: str) -> None:
        if self.sms is None:
            log.warning("answer to %s not sent: no SMS gateway is configured", agent)
            return
        try:
            await self.sms.send(number, text)
        except SmsError as exc:
            log.warning("answer to %s (%s) not sent: %s", agent, number, exc)

    def routes(self, who: Callable[[web.Request], str]) -> list[web.RouteDef]:
        return [web.get("/api/campaigns/{campaign}/pulled", self._listing(who)),
                web.post("/api/campaigns/{campaign}/pulled/{code:[0-9]{1,9}}/{action:take|voicemail}",
                         self._claiming(who))]

    def _listing(self, who: Callable[[web.Request], str]) -> Handler:
        async def listing(request: web.Request) -> web.StreamResponse:
            campaign, caller = request.match_info["campaign"], who(request)
            node = self.flow().nodes.get(Destination("campaign", campaign))
            if not isinstance(node, Campaign) or not node.pull:
                return _error(404, f"no pull campaign {campaign!r}")
            if caller != SUPERVISOR and caller not in node.agents:
                return _error(403, f"{caller} is not staff of {campaign}")
            try:
                calls = await self.store.list([campaign])
            except (SQLAlchemyError, OSError) as exc:
                log.error("pulled calls not read: %s", exc)
                return _error(503, "the database did not answer")
            now = self.wall()
            return web.json_response({"calls": [
                {"code": c.code, "caller": c.caller, "name": c.name, "location": c.location,
                 "waited": round((now - c.opened_at).total_seconds())} for c in calls]})
        return listing

    def _claiming(self, who: Callable[[web.Request], str]) -> Handler:
        async def claiming(request: web.Request) -> web.StreamResponse:
            campaign, caller = request.match_info["campaign"], who(request)
            agent = request.query.get("agent", "") if caller == SUPERVISOR else caller
            if not agent:
                return _error(400, "the supervisor's token names the agent: ?agent=<id>")
            campaigns = {name: node for name, node in self.campaigns_of(agent).items() if name == campaign}
            if not campaigns:
                return _error(403, f"{agent} is not staff of a pull campaign {campaign!r}")
            action: pull.Action = "take" if request.match_info["action"] == "take" else "voicemail"
            answer = await self.claim(agent, campaigns, int(request.match_info["code"]), action, "api")
            if answer.status == 202:
                return web.json_response({"code": int(request.match_info["code"]), "action": action,
                                          "agent": agent}, status=202)
            return _error(answer.status, answer.text)
        return claiming


def _read(text: str, campaigns: dict[str, Campaign]) -> pull.Reply:
    """The reply as each of the agent's campaigns reads it: one reading, or unreadable."""
    readings = {pull.read_reply(text, node.words) for node in campaigns.values()} or {
        pull.read_reply(text, pull.Words())}
    commands = {r for r in readings if isinstance(r, pull.Command)}
    if len(commands) > 1:
        return pull.Unreadable("the word means different things in the agent's campaigns")
    return commands.pop() if commands else sorted(readings, key=str)[0]


def _words(campaigns: dict[str, Campaign]) -> pull.Words:
    return next(iter(campaigns.values())).words if campaigns else pull.Words()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
