"""Admission by proof of work at ``hello`` (docs/design.md §3; OWASP ASVS 5.0 V2.4 anti-automation).

Every new chat socket is sent a :class:`Challenge`: a random string and a number of
bits ``N``. Its ``hello`` must carry a nonce such that SHA-256 of the UTF-8 bytes of
``challenge + ":" + nonce`` starts with at least ``N`` zero bits. For a person this is
a fraction of a second of their browser's time, once per connection; for a bot that
opens thousands of sessions it is thousands of times that, paid before the server does
any work for it beyond the challenge.

The policy is pure and sans-I/O: the clock is an argument, the randomness of a
challenge is made by the caller, memory is bounded by constructor arguments.

- :class:`DifficultyPolicy` picks ``N``: the base difficulty, one bit more when the
  node's load reaches a knee and one more at each doubling past it, the same for a
  network that opened many connections recently, never above a cap.
- :class:`NetworkHistory` counts the connections each network opened in a sliding
  window, for the least recently seen networks to be forgotten first (LRU).
- :class:`Challenge` is one connection's challenge, and checks its proof: issued to
  this connection (so a solution cannot be replayed on another), not expired, enough
  zero bits. The gateway holds it for its one connection and checks it once.
- :func:`solve` finds a nonce (for clients and tests; the page has its own, in a Web
  Worker).

0 bits is allowed, for benchmarks only: the challenge must still be echoed.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Final

from .errors import ProofInvalid, ProofRequired
from .network import UNKNOWN_NETWORK

#: The most bits a difficulty may ask (2^32 hashes on average: far past any person's
#: patience; the settings keep the working range well below).
MAX_BITS: Final = 32
#: The longest nonce a proof may carry.
MAX_NONCE_CHARS: Final = 64
#: The longest challenge a proof may carry (the server issues 24 characters).
MAX_CHALLENGE_CHARS: Final = 128


def digest(challenge: str, nonce: str) -> bytes:
    """SHA-256 of the UTF-8 bytes of ``challenge + ":" + nonce``."""
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def leading_zero_bits(value: bytes) -> int:
    """How many zero bits ``value`` starts with (all of them for all-zero bytes)."""
    number = int.from_bytes(value, "big")
    return len(value) * 8 - number.bit_length()


def meets(challenge: str, nonce: str, bits: int) -> bool:
    """Whether ``nonce`` solves ``challenge`` at ``bits`` (``0 <= bits <= 256``)."""
    if not 0 <= bits <= 256:
        raise ValueError("bits must be between 0 and 256")
    return int.from_bytes(digest(challenge, nonce), "big") >> (256 - bits) == 0


def solve(challenge: str, bits: int, start: int = 0) -> str:
    """The first decimal nonce from ``start`` that solves ``challenge`` at ``bits``.

    About ``2**bits`` hashes on average; pure, deterministic. The hash of the fixed
    prefix is computed once and copied for each try.
    """
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be between 0 and {MAX_BITS}")
    prefix = hashlib.sha256(f"{challenge}:".encode())
    shift = 256 - bits
    nonce = start
    while True:
        text = str(nonce)
        attempt = prefix.copy()
        attempt.update(text.encode())
        if int.from_bytes(attempt.digest(), "big") >> shift == 0:
            return text
        nonce += 1


@dataclass(frozen=True, slots=True)
class Challenge:
    """One connection's challenge: ``value`` (random, from the caller), the ``bits``
    asked, and the time (of the caller's clock) it ``expires_at``."""

    value: str
    bits: int
    expires_at: float

    def __post_init__(self) -> None:
        if not 0 <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be between 0 and {MAX_BITS}")
        if not 0 < len(self.value) <= MAX_CHALLENGE_CHARS:
            raise ValueError("a challenge is 1 to 128 characters")

    def check(self, challenge: str | None, nonce: str | None, now: float) -> None:
        """Accept a proof, or raise.

        :class:`ProofRequired` when there is no proof; :class:`ProofInvalid` when its
        challenge is not this one (another connection's, or made up), when this one
        has expired (``now >= expires_at``), or when the nonce falls short of ``bits``.
        The refusal does not say which, so it teaches nothing to a guesser.
        """
        if challenge is None or nonce is None:
            raise ProofRequired()
        if (
            challenge != self.value
            or now >= self.expires_at
            or len(nonce) > MAX_NONCE_CHARS
            or not meets(challenge, nonce, self.bits)
        ):
            raise ProofInvalid()


def _extra_bits(count: int, knee: int) -> int:
    """0 below ``knee``; 1 at the knee, and one more at each doubling past it."""
    return (count // knee).bit_length()


@dataclass(frozen=True, slots=True)
class DifficultyPolicy:
    """How many bits a new connection is asked.

    - ``base_bits``: the difficulty when the node is quiet and the network unknown to it.
    - ``max_bits``: the cap, whatever the load and the history.
    - ``load_knee``: chatters online on this node at which one bit is added (two at
      twice that, three at four times...): under load, every newcomer pays a little
      more, which slows a flood without refusing anyone.
    - ``network_knee``: connections a network opened within the history's window at
      which one bit is added (doubling the same way): one network opening session
      after session pays more and more, while a household or a campus behind one
      address stays below the knee.
    """

    base_bits: int = 16
    max_bits: int = 22
    load_knee: int = 2000
    network_knee: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.base_bits <= self.max_bits <= MAX_BITS:
            raise ValueError(f"need 0 <= base_bits <= max_bits <= {MAX_BITS}")
        if self.load_knee < 1 or self.network_knee < 1:
            raise ValueError("the knees must be positive")

    def bits(self, online: int, recent: int) -> int:
        """The bits for a connection while ``online`` chatters are on this node and its
        network opened ``recent`` other connections within the window."""
        extra = _extra_bits(max(online, 0), self.load_knee)
        extra += _extra_bits(max(recent, 0), self.network_knee)
        return min(self.base_bits + extra, self.max_bits)


class NetworkHistory:
    """Connections opened per network within the last ``window`` seconds.

    Bounded: at most ``capacity`` networks (the least recently seen is forgotten
    first) and ``per_network`` times each (past that the count stays at its ceiling,
    which is already far past any sensible knee). Times come from the caller's clock.
    """

    __slots__ = ("_seen", "capacity", "per_network", "window")

    def __init__(
        self, window: float = 600.0, capacity: int = 100_000, per_network: int = 256
    ) -> None:
        if window <= 0 or capacity < 1 or per_network < 1:
            raise ValueError("window, capacity and per_network must be positive")
        self.window = window
        self.capacity = capacity
        self.per_network = per_network
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def recent(self, network: str, now: float) -> int:
        """Connections ``network`` opened within the window before ``now``."""
        times = self._seen.get(network)
        if times is None:
            return 0
        self._expire(times, now)
        return len(times)

    def record(self, network: str, now: float) -> int:
        """Count a connection from ``network`` at ``now``; returns how many it had
        opened within the window before this one."""
        times = self._seen.get(network)
        if times is None:
            times = self._seen[network] = deque(maxlen=self.per_network)
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(network)
            self._expire(times, now)
        earlier = len(times)
        times.append(now)
        return earlier

    def _expire(self, times: deque[float], now: float) -> None:
        cutoff = now - self.window
        while times and times[0] <= cutoff:
            times.popleft()


class Admission:
    """Issues each new connection its challenge: the difficulty from ``policy`` for
    this node's load and the network's history, valid for ``lifetime`` seconds.

    ``unknown`` is the network of peers whose address could not be read: they share
    it, so it has no history (one such peer must not raise the price for all)."""

    __slots__ = ("history", "lifetime", "policy", "unknown")

    def __init__(
        self,
        policy: DifficultyPolicy | None = None,
        history: NetworkHistory | None = None,
        lifetime: float = 30.0,
        unknown: str = UNKNOWN_NETWORK,
    ) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self.policy = DifficultyPolicy() if policy is None else policy
        # Not ``history or ...``: an empty history has a length of 0, so is falsy.
        self.history = NetworkHistory() if history is None else history
        self.lifetime = lifetime
        self.unknown = unknown

    def issue(self, value: str, network: str, online: int, now: float) -> Challenge:
        """The challenge ``value`` (random, from the caller) for a connection from
        ``network`` while ``online`` chatters are on this node; counts the connection."""
        recent = 0 if network == self.unknown else self.history.record(network, now)
        return Challenge(value, self.policy.bits(online, recent), now + self.lifetime)
