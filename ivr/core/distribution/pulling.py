"""Pull campaigns: a waiting call is not offered to anyone; its staff are told of it (an SMS
each) and one of them claims it by a reply or through the API. The claim is decided in the store,
between app nodes; the node that holds the caller hears of the winner (``CallPulled``), rings the
taker's phone and bridges it like any answered offer. A taker whose phone does not answer puts
the call back at its place in the line, open again, and the other staff are told.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ivr.core import pull
from ivr.core.distribution.commands import ClosePull, OpenPull, ReopenPull, TextStaff
from ivr.core.distribution.events import CallPulled, PullOpened, StaffTexted
from ivr.core.distribution.offering import Offering
from ivr.core.distribution.offers import Offer
from ivr.core.distribution.work import WorkItem, WorkState
from ivr.core.events import CampaignNote, PulledToVoicemail


class Pulling(Offering):
    def _open_pull(self, item: WorkItem) -> None:
        call = item.call
        name = pull.caller_name(dict(call.crm_variables), call.caller_name)
        where = pull.location(call.caller, item.node.caller_country)
        item.pull = pull.WaitingPull(0, item.campaign, call.caller, name, where)
        self._out.append(OpenPull(item.id, item.campaign, call.caller, name, where))

    def _pull_opened(self, event: PullOpened) -> None:
        item = self.items.get(event.call_id)
        if event.code is None:
            self._log(f"call {event.call_id}: pulled call not stored ({event.error}); no staff told",
                      logging.ERROR)
            if item is not None:
                self._tell(item, CampaignNote(f"pull: not stored ({event.error}); no staff told"))
            return
        if item is None or item.pull is None:
            self._out.append(ClosePull(event.code, "the caller hung up"))
            return
        item.pull = replace(item.pull, code=event.code)
        self._log(f"call {item.id}: open to its staff as call {event.code}")
        self._notify(item, again=False)

    def _notify(self, item: WorkItem, again: bool, leave_out: str = "") -> None:
        assert item.pull is not None
        agents = self.flow().agents
        staff = [(name, agents[name].mobile) for name in item.node.agents
                 if name in agents and agents[name].mobile and name != leave_out]
        if not staff:
            self._tell(item, CampaignNote("pull: no staff with a mobile to text"))
            return
        text = pull.notification(item.pull, item.node.words, again)
        for agent, number in staff:
            self._out.append(TextStaff(agent, number, text, item.id))

    def _texted(self, event: StaffTexted) -> None:
        item = self.items.get(event.call_id)
        if item is not None:
            told = f"not texted: {event.error}" if event.error else "texted"
            self._tell(item, CampaignNote(f"pull: {event.agent} {told}"))

    def _pulled(self, event: CallPulled) -> None:
        code, item = event.code, self.items.get(event.call_id)
        if item is None or item.pull is None or item.state is not WorkState.WAITING:
            self._answer(event, pull.hung_up(code))
            self._out.append(ClosePull(code, "the caller hung up"))
            return
        self._tell(item, CampaignNote(f"pull: {event.action} by {event.agent} ({event.via})"))
        if event.action == "voicemail" and item.node.voicemail_to is None:
            self._answer(event, pull.no_voicemail(code))
            self._reopen(item, event.agent, "no voicemail in this campaign")
            return
        if event.action == "voicemail":
            self._answer(event, pull.sent_to_voicemail(code))
            self._out.append(ClosePull(code, f"sent to voicemail by {event.agent}"))
            self._tell(item, PulledToVoicemail(event.agent, event.via))
            item.pull_closed = True
            return
        if event.agent not in self.flow().agents:
            self._answer(event, pull.unknown(code))
            self._reopen(item, event.agent, f"{event.agent} is no longer an agent")
            return
        self._answer(event, pull.taken(code))
        self._log(f"call {item.id}: pulled by {event.agent} ({event.via})")
        self._ring_claimed(item, event.agent)

    def _unanswered(self, item: WorkItem, offer: Offer, reason: str) -> None:
        if not item.node.pull:
            super()._unanswered(item, offer, reason)
            return
        self._drop_unanswered(item, offer)
        self._reopen(item, offer.agent, f"{offer.agent}'s phone did not answer ({reason})")

    def _back_in_line(self, item: WorkItem, offer: Offer) -> None:
        super()._back_in_line(item, offer)
        if item.node.pull:
            self._reopen(item, offer.agent, f"{offer.agent} lost before the bridge")

    def _bridged(self, offer_id: str, bridge_id: str) -> None:
        super()._bridged(offer_id, bridge_id)
        offer = self.offers.get(offer_id)
        item = self.items.get(offer.work_id) if offer is not None else None
        if offer is not None and item is not None and item.state is WorkState.TALKING:
            self._close_pull(item, f"taken by {offer.agent}")

    def _answer(self, event: CallPulled, text: str) -> None:
        """The taker is answered by SMS when the claim came by SMS (the API answers itself)."""
        config = self.flow().agents.get(event.agent)
        if event.via == "sms" and config is not None and config.mobile:
            self._out.append(TextStaff(event.agent, config.mobile, text))

    def _reopen(self, item: WorkItem, agent: str, why: str) -> None:
        assert item.pull is not None
        self._log(f"call {item.id}: {why}; open to the staff again")
        self._tell(item, CampaignNote(f"pull: {why}; open again"))
        self._out.append(ReopenPull(item.pull.code))
        self._notify(item, again=True, leave_out=agent)

    def _close_pull(self, item: WorkItem, outcome: str) -> None:
        if item.pull is not None and item.pull.code and not item.pull_closed:
            item.pull_closed = True
            self._out.append(ClosePull(item.pull.code, outcome))
