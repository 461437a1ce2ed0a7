"""What one node's sockets and routes share: :class:`Services`, built once per app
(``app.build_services``) and handed to the chat socket, the frame and appeal routes,
the enforcement and age modules, readiness, and (through the protocols it satisfies)
the moderator console.

It sits below every module that takes it, and imports none of them, so that the
gateway's modules depend on it one way only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.admission import Admission, DifficultyPolicy, NetworkHistory
from ..core.age import AgeGate, AgeLedger
from ..core.bans import BanIndex
from ..core.device import DeviceTokens
from ..core.frame_tokens import FrameTokens
from ..core.messages import Codec
from ..core.network import UNKNOWN_NETWORK
from ..moderation.records import Records
from ..safety.checker import FrameChecker
from ..safety.hashes import HashList
from ..safety.pool import CheckPool
from ..safety.ratelimits import RateLimits
from .addresses import Addresses
from .decisions import DecisionNotices
from .node import Node
from .settings import Settings


def admission_for(settings: Settings) -> Admission:
    """The admission policy that ``settings`` describe (``pow_*``)."""
    return Admission(
        DifficultyPolicy(
            base_bits=settings.pow_bits,
            max_bits=max(settings.pow_bits, settings.pow_max_bits),
            load_knee=settings.pow_load_knee,
            network_knee=settings.pow_network_knee,
        ),
        NetworkHistory(window=settings.pow_network_window, capacity=settings.pow_networks),
        lifetime=settings.pow_expires,
        unknown=UNKNOWN_NETWORK,
    )


@dataclass(slots=True)
class Services:
    """What every chat socket of a node shares. ``records`` is opened at start-up."""

    settings: Settings
    node: Node
    codec: Codec
    tokens: DeviceTokens
    network_key: bytes
    age_gate: AgeGate
    ages: AgeLedger
    bans: BanIndex
    frame_tokens: FrameTokens
    hashes: HashList
    addresses: Addresses
    decisions: DecisionNotices
    records: Records | None = None
    checker: FrameChecker | None = None
    frame_checks: CheckPool | None = None
    #: Cross-session limits per device and network (shared through Redis with several
    #: nodes); None: only the per-session token buckets apply.
    rate_limits: RateLimits | None = None
    #: Challenges for new connections; made from the settings when not given.
    admission: Admission | None = None

    def __post_init__(self) -> None:
        if self.admission is None:
            self.admission = admission_for(self.settings)
