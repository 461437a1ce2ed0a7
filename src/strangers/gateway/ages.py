"""Age state carried out on the gateway: every open session of a device held to it,
on this node and through the broker on every other, and kept in the records
(docs/safety.md, "Age").

The core decides (``AgeGate.admit``, ``AgeGate.restage``, ``AgeGate.bar_from_teen``
change the node's ``AgeLedger``); :func:`settle` then does what follows, in an order
that never leaves a window open: the sessions here first (no await before them), then
the other gateways (a fact on the broker, at once), then the records (awaited; a
failure is logged and the state still holds in memory on every gateway that heard).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from ..brokers.wire import AgeFact, NetworkHoldFact
from ..core.age import AgeChanges
from ..core.device import DeviceClaims
from ..core.messages import AgeBand, Refused
from ..core.network import UNKNOWN_NETWORK
from ..core.switchboard import Restage
from ..core.text_policy import ADULT_AGE
from ..moderation.ages import AgeStates
from ..moderation.records import Records
from .services import Services

log = logging.getLogger("strangers.ages")


async def settle(services: Services) -> None:
    """Carry out what the ledger's last decisions changed (see the module's docstring)."""
    changes = services.ages.take_changes()
    if not changes:
        return
    hold_sessions(services, changes.devices)
    broker = services.node.broker
    for device, state in changes.devices.items():
        broker.share(AgeFact(device, state))
    for network, hold in changes.networks.items():
        broker.share(NetworkHoldFact(network, hold))
    if services.records is not None:
        # Shielded: the session that caused the change may be one of those just sent
        # back, whose task is being cancelled; the records must be written all the same.
        store = asyncio.create_task(_store(services.records, changes))
        _STORING.add(store)
        store.add_done_callback(_STORING.discard)
        await asyncio.shield(store)


_STORING: set[asyncio.Task[None]] = set()  # held so they are not collected mid-run


async def _store(records: Records, changes: AgeChanges) -> None:
    try:
        await AgeStates(records).store(changes)
    except Exception:
        log.exception("age state could not be stored; it holds in memory meanwhile")


async def stated(services: Services, restage: Restage, network: str) -> None:
    """A device showed an age its pool does not admit, by a line it typed or by its
    face (docs/design.md §6; docs/safety.md, "Age" and "Age from the camera"): under 18 in the
    adult pool, it goes back to the age question after the cooldown with that age
    locked like an answer (and its ``network`` held); 18 or over in the teen pool, it
    is barred from the teen pool. Then :func:`settle`."""
    wall = int(time.time())
    if restage.age >= ADULT_AGE:
        services.age_gate.bar_from_teen(services.ages, restage.device, now=wall)
    else:
        held = None if network == UNKNOWN_NETWORK else network
        services.age_gate.restage(services.ages, restage.device, held, restage.age, now=wall)
    await settle(services)


def hold_sessions(services: Services, devices: Iterable[str]) -> None:
    """Send every session here whose device's age state no longer admits its pool back
    to the age question (``refused``, then the socket closes)."""
    wall = int(time.time())
    ledger, node = services.ages, services.node
    teen_pool = services.age_gate.teen_pool
    for device in devices:
        for band in (AgeBand.ADULT, AgeBand.TEEN):
            refusal = ledger.refusal_for(device, band, wall, teen_pool=teen_pool)
            if refusal is None:
                continue
            reason, until = refusal
            token = services.tokens.issue(DeviceClaims(device, ledger.youngest(device, None, wall)))
            notice = Refused(reason=reason, until=until, device=token)
            node.run(node.switchboard.send_to_age_question(device, band, notice, node.clock()))


def merge_shared(services: Services, changes: AgeChanges) -> None:
    """Age state another gateway shared: merged into this node's ledger, and the
    devices it made stricter held to it here."""
    hold_sessions(services, services.ages.merge(changes))


async def load(services: Services) -> None:
    """At start-up: the age state the records keep, so a restart holds every device and
    network to what it was."""
    assert services.records is not None
    services.ages.merge(await AgeStates(services.records).load(now=datetime.now(UTC)))


async def prune(services: Services) -> None:
    """Forget what has run out, in memory and in the records."""
    services.ages.prune(int(time.time()))
    if services.records is None:
        return
    try:
        await AgeStates(services.records).prune(now=datetime.now(UTC))
    except Exception:
        log.exception("expired age state could not be deleted; it is tried again later")
