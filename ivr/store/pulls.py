"""Pulled calls, kept in the database that the app nodes share: the one place that decides which
staff member's claim wins, whatever node their reply or request reached.

A pulled call is ``open`` (its code may be claimed), ``taken`` (a claim won: the taker's phone is
being rung, or the caller sent to voicemail) or ``closed`` (``outcome`` says why). A claim is one
conditional UPDATE, open to taken, so of two claims at once exactly one matches the row. The node
that holds the caller finds the claims won on its calls (``handled`` false) and carries them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.pull import Action
from ivr.store.schema import pulled_calls, sms_opt_outs
from ivr.store.values import clipped, utc

c = pulled_calls.c
OPEN, TAKEN, CLOSED = "open", "taken", "closed"


@dataclass(frozen=True)
class PulledCall:
    code: int
    call_id: str
    node: str
    campaign: str
    caller: str
    name: str
    location: str
    state: str
    taker: str
    action: str
    via: str
    outcome: str
    opened_at: datetime


@dataclass(frozen=True)
class Won:
    call: PulledCall


@dataclass(frozen=True)
class Lost:
    """The claim did not win: the call as it is (None: no such call among the claimant's)."""

    call: PulledCall | None


@dataclass(frozen=True)
class Which:
    """A claim without a code, and not exactly one call open for the claimant."""

    codes: tuple[int, ...]


class PullStore:
    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def open(self, call_id: str, campaign: str, caller: str, name: str, location: str) -> int:
        """The new call's code."""
        now = utc(self.wall())
        async with self.engine.begin() as connection:
            done = await connection.execute(insert(pulled_calls).values(
                call_id=call_id, node=self.node, campaign=campaign, caller=clipped(caller, c.caller),
                name=clipped(name, c.name), location=clipped(location, c.location), state=OPEN, taker="",
                action="", via="", handled=True, outcome="", opened_at=now, updated_at=now))
            key = done.inserted_primary_key
            assert key is not None
            return int(key[0])

    async def claim(self, code: int | None, campaigns: Iterable[str], agent: str, action: Action,
                    via: str) -> Won | Lost | Which:
        """``agent``'s claim on the call ``code`` of one of ``campaigns`` (theirs); without a
        code, on their only open call."""
        campaigns = sorted(set(campaigns))
        if code is None:
            found = await self.list(campaigns, OPEN)
            if len(found) != 1:
                return Which(tuple(call.code for call in found))
            code = found[0].code
        now = utc(self.wall())
        async with self.engine.begin() as connection:
            done = await connection.execute(update(pulled_calls).where(and_(
                c.id == code, c.campaign.in_(campaigns), c.state == OPEN,
            )).values(state=TAKEN, taker=agent, action=action, via=via, handled=False, updated_at=now))
            won = done.rowcount == 1
        call = await self.get(code)
        if call is None or call.campaign not in campaigns:
            return Lost(None)
        return Won(call) if won else Lost(call)

    async def claimed(self) -> list[PulledCall]:
        """Claims won on this node's calls and not yet carried out, each returned once."""
        async with self.engine.begin() as connection:
            query = select(pulled_calls).where(
                and_(c.node == self.node, c.state == TAKEN, c.handled.is_(False)))
            rows = (await connection.execute(query.order_by(c.id))).mappings().all()
            found = []
            for row in rows:
                done = await connection.execute(update(pulled_calls).where(and_(
                    c.id == row["id"], c.handled.is_(False))).values(handled=True))
                if done.rowcount == 1:
                    found.append(_call(row))
        return found

    async def reopen(self, code: int) -> None:
        await self._set(and_(c.id == code, c.state == TAKEN),
                        state=OPEN, taker="", action="", via="", handled=True)

    async def close(self, code: int, outcome: str) -> None:
        await self._set(and_(c.id == code, c.state != CLOSED), state=CLOSED, handled=True,
                        outcome=clipped(outcome, c.outcome))

    async def close_all(self, outcome: str) -> int:
        """At start: the calls an earlier run of this node left open or taken (callers taken back
        wait again under a new code)."""
        return await self._set(and_(c.node == self.node, c.state != CLOSED), state=CLOSED, handled=True,
                               outcome=clipped(outcome, c.outcome))

    async def close_calls(self, call_ids: Iterable[str], outcome: str) -> int:
        """The pulled calls of callers another node lost (it died): nobody can take them now."""
        return await self._set(and_(c.call_id.in_(sorted(set(call_ids))), c.state != CLOSED), state=CLOSED,
                               handled=True, outcome=clipped(outcome, c.outcome))

    async def get(self, code: int) -> PulledCall | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(pulled_calls).where(c.id == code))).mappings().first()
        return _call(row) if row is not None else None

    async def list(self, campaigns: Iterable[str], state: str = OPEN) -> list[PulledCall]:
        """Oldest first."""
        query = select(pulled_calls).where(and_(c.campaign.in_(sorted(set(campaigns))), c.state == state))
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query.order_by(c.id))).mappings().all()
        return [_call(row) for row in rows]

    async def opt_out(self, number: str) -> None:
        try:
            async with self.engine.begin() as connection:
                await connection.execute(insert(sms_opt_outs).values(number=number, at=utc(self.wall())))
        except IntegrityError:
            pass

    async def opt_in(self, number: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(sms_opt_outs).where(sms_opt_outs.c.number == number))

    async def opted_out(self, numbers: Iterable[str]) -> set[str]:
        query = select(sms_opt_outs.c.number).where(sms_opt_outs.c.number.in_(sorted(set(numbers))))
        async with self.engine.connect() as connection:
            return set((await connection.execute(query)).scalars())

    async def _set(self, where: object, **values: object) -> int:
        async with self.engine.begin() as connection:
            done = await connection.execute(update(pulled_calls).where(where)  # type: ignore[arg-type]
                                            .values(updated_at=utc(self.wall()), **values))
            return int(done.rowcount)


def _call(row: object) -> PulledCall:
    values = dict(row)  # type: ignore[call-overload]
    return PulledCall(values["id"], values["call_id"], values["node"], values["campaign"], values["caller"],
                      values["name"], values["location"], values["state"], values["taker"], values["action"],
                      values["via"], values["outcome"], utc(values["opened_at"]))
