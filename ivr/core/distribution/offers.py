"""An offer of waiting work to one agent, from its proposal to the end of the conversation.

    proposed --granted--> claimed --ring--> ringing --answered--> answered --bridged--> bridged
       |                     |                 |                     |                     |
    refused              withdrawn        unanswered               lost                 ended

An offer is withdrawn when the work is served by another agent or leaves; a withdrawn offer
still hears about its claim and its leg (a claim granted late is released, a leg answered late
is hung up) until it has neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ivr.core.distribution.transitions import next_state


class OfferState(Enum):
    PROPOSED = "proposed"
    """The agent is asked for (the claim against other app nodes)."""
    CLAIMED = "claimed"
    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    REFUSED = "refused"
    """Another app node holds the agent."""
    UNANSWERED = "unanswered"
    """Declined, rang out, or could not be rung."""
    WITHDRAWN = "withdrawn"
    LOST = "lost"
    """Answered, but gone before the bridge."""
    ENDED = "ended"


PROPOSED, CLAIMED, RINGING, ANSWERED, BRIDGED, REFUSED, UNANSWERED, WITHDRAWN, LOST, ENDED = OfferState
OFFER_TABLE: dict[tuple[OfferState, str], OfferState] = {
    (PROPOSED, "granted"): CLAIMED, (PROPOSED, "refused"): REFUSED, (PROPOSED, "withdraw"): WITHDRAWN,
    (CLAIMED, "ring"): RINGING, (CLAIMED, "withdraw"): WITHDRAWN,
    (RINGING, "answered"): ANSWERED, (RINGING, "ended"): UNANSWERED, (RINGING, "ring failed"): UNANSWERED,
    (RINGING, "withdraw"): WITHDRAWN,
    (ANSWERED, "bridged"): BRIDGED, (ANSWERED, "bridge failed"): LOST, (ANSWERED, "ended"): LOST,
    (ANSWERED, "withdraw"): ENDED,
    (BRIDGED, "ended"): ENDED, (BRIDGED, "withdraw"): ENDED,
    **{(WITHDRAWN, late): WITHDRAWN
       for late in ("granted", "refused", "answered", "ended", "ring failed", "withdraw")},
}
OVER = frozenset({REFUSED, UNANSWERED, LOST, ENDED})


@dataclass
class Offer:
    id: str
    """Also the agent's leg's channel id."""
    work_id: str
    agent: str
    state: OfferState = OfferState.PROPOSED
    claim_open: bool = True
    """The claim is asked and not yet answered."""
    leg: bool = False
    """A leg to the agent's phone may exist (it was rung and has not ended)."""
    endpoint: str = ""
    """What Asterisk dials when it is not the agent's own phone (a backend's SIP URI, a number)."""
    on_board: bool = True
    """The agent's state follows the offer (ringing, on call). Not for a pulled call taken by
    someone who is not ready for pushed calls (logged out, paused): they chose to take it."""
    rung_at: float = 0.0
    """When the agent's phone was rung (the clock's time)."""

    def move(self, trigger: str) -> OfferState:
        self.state = next_state(OFFER_TABLE, f"offer {self.id} to {self.agent}", self.state, trigger)
        return self.state

    @property
    def settled(self) -> bool:
        """Nothing more can come of it: forget it."""
        return self.state in OVER or (self.state is WITHDRAWN and not self.claim_open and not self.leg)
