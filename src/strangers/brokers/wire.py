"""What gateways say to each other through Redis, as JSON (docs/design.md §5).

Tickets, pairs, partner events and shared facts cross between processes here, and
only here. Everything is plain JSON decoded into the core's own types with the same
strict models the client protocol uses for the messages a partner event carries; a
payload that does not decode raises :class:`WireError`, which the broker logs and
drops (a peer's bytes never reach a chatter unchecked, and pickle is never used:
whoever can write to Redis must not be able to run code on a gateway).

Times: a ticket's ``joined_at`` is a reading of the sender's monotonic clock, which
means nothing on another host, so a ticket travels as how long it has waited
(``waited``) and is rebased on the receiver's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import ValidationError

from ..core.age import AgeRecord, DeviceAge, NetworkHold, Stage
from ..core.bans import BanEntry
from ..core.matching import Pair, Ticket, WaitNote
from ..core.messages import AgeBand, Blur, Mode, Notice, PartnerSignal
from ..core.pools import Pool
from ..core.switchboard import (
    PeerEvent,
    PeerLeft,
    PeerNotify,
    PeerOwnChecked,
    PeerSignal,
    PeerText,
    PeerTyping,
)
from .errors import BrokerError


class WireError(BrokerError, ValueError):
    """A payload from Redis that is not one this version writes."""

    code: ClassVar[str] = "bad_payload"


# --- shared facts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockFact:
    """Two devices must never meet again (a report): every matchmaker must know."""

    device_a: str
    device_b: str


@dataclass(frozen=True, slots=True)
class BanFact:
    """A ban just committed to the records: in force on every gateway at once, and
    every session it covers told and closed (the records stay authoritative)."""

    device: str | None
    network: str | None
    entry: BanEntry


@dataclass(frozen=True, slots=True)
class AgeFact:
    """A device's age state (its lock, its cooldown before the age question, its bar
    from the teen pool): every gateway holds its open sessions to it at once and does
    not accept an older token from it (docs/safety.md, "Age")."""

    device: str
    state: DeviceAge


@dataclass(frozen=True, slots=True)
class NetworkHoldFact:
    """A network that just gave a minor's answer: no gateway welcomes a new device from
    it as an adult until the hold ends (docs/safety.md, "Age")."""

    network: str
    hold: NetworkHold


Fact = BlockFact | BanFact | AgeFact | NetworkHoldFact


def dumps(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def loads(payload: str | bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise WireError("not JSON") from exc
    if not isinstance(value, dict):
        raise WireError("not an object")
    return value


# --- tickets and pairs --------------------------------------------------------------------


_POOLS: dict[str, Pool] = {
    pool.key: pool for pool in (Pool(band, mode) for band in AgeBand for mode in Mode)
}


def pool_from_key(key: str) -> Pool:
    pool = _POOLS.get(key) if isinstance(key, str) else None
    if pool is None:
        raise WireError(f"unknown pool {key!r}")
    return pool


def ticket_to_wire(ticket: Ticket, now: float) -> dict[str, Any]:
    return {
        "s": ticket.session,
        "d": ticket.device,
        "p": ticket.pool.key,
        "l": ticket.language,
        "i": sorted(ticket.interests),
        "w": round(max(0.0, now - ticket.joined_at), 4),
        "n": ticket.serial,
        "x": ticket.network,
    }


def ticket_from_wire(value: Any, now: float) -> Ticket:
    try:
        interests = value["i"]
        if not isinstance(interests, list) or not all(isinstance(t, str) for t in interests):
            raise WireError("bad interests")
        fields = (value["s"], value["d"], value["l"], value["x"])
        if not all(isinstance(f, str) for f in fields):
            raise WireError("bad ticket field")
        waited, serial = float(value["w"]), value["n"]
        if not isinstance(serial, int) or waited < 0:
            raise WireError("bad ticket number")
        return Ticket(
            session=value["s"],
            device=value["d"],
            pool=pool_from_key(value["p"]),
            language=value["l"],
            interests=frozenset(interests),
            joined_at=now - waited,
            serial=serial,
            network=value["x"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError("bad ticket") from exc


def pair_to_wire(pair: Pair, now: float) -> dict[str, Any]:
    return {
        "t": "pair",
        "m": pair.match,
        "a": ticket_to_wire(pair.a, now),
        "b": ticket_to_wire(pair.b, now),
        "c": list(pair.common),
    }


def pair_from_wire(value: dict[str, Any], now: float) -> Pair:
    match, common = value.get("m"), value.get("c")
    if not isinstance(match, str) or not isinstance(common, list):
        raise WireError("bad pair")
    if not all(isinstance(tag, str) for tag in common):
        raise WireError("bad pair")
    a, b = ticket_from_wire(value.get("a"), now), ticket_from_wire(value.get("b"), now)
    if a.pool != b.pool:
        # The core never pairs across pools; a payload that does is refused, not obeyed.
        raise WireError("pair across pools")
    return Pair(match, a, b, tuple(common))


# --- wait notes ---------------------------------------------------------------------------


def note_to_wire(note: WaitNote) -> dict[str, Any]:
    return {"t": "note", "s": note.session, "n": note.serial, "w": note.state}


def note_from_wire(value: dict[str, Any]) -> WaitNote:
    session, serial, state = value.get("s"), value.get("n"), value.get("w")
    if not isinstance(session, str) or not _is_int(serial):
        raise WireError("bad note")
    if state not in ("nobody", "met_recently", "others"):
        raise WireError("bad note state")
    assert isinstance(serial, int)
    return WaitNote(session, serial, state)


# --- partner events -----------------------------------------------------------------------


def event_to_wire(to: str, event: PeerEvent) -> dict[str, Any]:
    base: dict[str, Any] = {"t": "relay", "to": to, "m": event.match, "f": event.sender}
    match event:
        case PeerText(text=text, hidden=hidden):
            base |= {"k": "text", "x": text, "h": hidden}
        case PeerTyping(active=active):
            base |= {"k": "typing", "a": active}
        case PeerLeft(reason=reason):
            base |= {"k": "left", "r": reason}
        case PeerSignal(signal=signal):
            base |= {"k": "signal", "g": signal.model_dump(mode="json")}
        case PeerNotify(message=message):
            base |= {"k": "notify", "g": message.model_dump(mode="json")}
        case PeerOwnChecked():
            base |= {"k": "own_checked"}
    return base


def event_from_wire(value: dict[str, Any]) -> tuple[str, PeerEvent]:
    to, match, sender, kind = value.get("to"), value.get("m"), value.get("f"), value.get("k")
    if not all(isinstance(v, str) for v in (to, match, sender, kind)):
        raise WireError("bad relay")
    assert isinstance(to, str) and isinstance(match, str) and isinstance(sender, str)
    try:
        event: PeerEvent
        if kind == "text":
            text, hidden = value["x"], value.get("h")
            if not isinstance(text, str) or hidden not in (None, "contact", "risk"):
                raise WireError("bad text")
            event = PeerText(match, sender, text, hidden)
        elif kind == "typing":
            event = PeerTyping(match, sender, bool(value["a"]))
        elif kind == "left":
            reason = value.get("r")
            if reason not in (None, "safety", "no_face"):
                raise WireError("bad reason")
            event = PeerLeft(match, sender, reason)
        elif kind == "signal":
            event = PeerSignal(match, sender, PartnerSignal.model_validate(value["g"]))
        elif kind == "notify":
            message = value["g"]
            notify: Blur | Notice
            if isinstance(message, dict) and message.get("type") == "blur":
                notify = Blur.model_validate(message)
            else:
                notify = Notice.model_validate(message)
            event = PeerNotify(match, sender, notify)
        elif kind == "own_checked":
            event = PeerOwnChecked(match, sender)
        else:
            raise WireError(f"unknown event kind {kind!r}")
    except (KeyError, ValidationError) as exc:
        raise WireError("bad event") from exc
    return to, event


# --- facts ---------------------------------------------------------------------------------


def _unix(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def fact_to_wire(fact: Fact) -> dict[str, Any]:
    match fact:
        case BlockFact(device_a=a, device_b=b):
            return {"t": "block", "a": a, "b": b}
        case BanFact(device=device, network=network, entry=entry):
            return {
                "t": "ban",
                "d": device,
                "n": network,
                "r": entry.reason,
                "c": entry.case,
                "u": _unix(entry.until),
                # The moderator's written reason, when there is one (docs/protocol.md,
                # ``banned``): every gateway tells the chatter the same. Not "o": the
                # Redis broker's envelope puts the sending node there.
                **({"w": entry.note} if entry.note is not None else {}),
            }
        case AgeFact(device=device, state=state):
            record = state.record
            return {
                "t": "age",
                "d": device,
                "s": None if record is None else int(record.stage),
                "l": None if record is None else record.locked_until,
                "r": state.recheck_until,
                "b": state.teen_barred_until,
            }
        case NetworkHoldFact(network=network, hold=hold):
            return {"t": "hold", "n": network, "s": hold.since, "u": hold.until}
    raise TypeError(fact)  # pragma: no cover - the union above is exhaustive


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise WireError("expected a string")


def fact_from_wire(value: dict[str, Any]) -> Fact:
    kind = value.get("t")
    try:
        if kind == "block":
            a, b = value["a"], value["b"]
            if not isinstance(a, str) or not isinstance(b, str):
                raise WireError("bad block")
            return BlockFact(a, b)
        if kind == "ban":
            reason = value["r"]
            if not isinstance(reason, str):
                raise WireError("bad ban")
            until = value.get("u")
            note = _optional_str(value.get("w"))
            if note is not None and len(note) > BanEntry.NOTE_MAX_CHARS:
                raise WireError("a ban's note is too long")
            entry = BanEntry(
                reason=reason,
                case=_optional_str(value.get("c")),
                until=None if until is None else datetime.fromtimestamp(float(until), UTC),
                note=note,
            )
            device, network = _optional_str(value.get("d")), _optional_str(value.get("n"))
            if device is None and network is None:
                raise WireError("a ban on nothing")
            return BanFact(device, network, entry)
        if kind == "age":
            device, stage, locked = value["d"], value.get("s"), value.get("l")
            times = [value.get("r") or 0, value.get("b") or 0]
            if not isinstance(device, str) or not all(_is_int(t) for t in times):
                raise WireError("bad age")
            record = None
            if stage is not None or locked is not None:
                if not isinstance(stage, int) or not isinstance(locked, int):
                    raise WireError("bad age record")
                record = AgeRecord(Stage(stage), locked)
            return AgeFact(device, DeviceAge(record, times[0], times[1]))
        if kind == "hold":
            network, since, until = value["n"], value["s"], value["u"]
            if not isinstance(network, str) or not (_is_int(since) and _is_int(until)):
                raise WireError("bad hold")
            return NetworkHoldFact(network, NetworkHold(since, until))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError("bad fact") from exc
    raise WireError(f"unknown fact {kind!r}")
