"""Many gateways on one Redis (docs/design.md §5).

Every gateway runs this broker beside its own sockets. Redis holds what they share
(the layout is in :mod:`.keys`):

- **joins**: a gateway appends its chatters' ``join`` and ``leave`` to the stream of
  their pool; nothing waits for a reply, so a chat line never waits on Redis.
- **matchmakers**: whichever gateway holds a pool's lease runs the core
  :class:`~strangers.core.matching.Matchmaker` for it, reading the pool's stream.
  It publishes each pair to the delivery channels of the two sides' gateways with a
  script that first checks it still holds the lease, so a holder that stalled and lost
  its lease can never publish a pair (fencing); the same script records the cooldown
  of the two devices, which a new holder loads.
- **takeover**: a lease lapses ``lease_seconds`` after its holder stops renewing it;
  a standby takes it within ``lease_check_seconds`` more, marks the stream with a new
  epoch, loads the cooldowns and asks every gateway to re-announce its waiting
  chatters of that pool. It reads only what follows its mark, so the waiting set is
  rebuilt from the gateways (who is waiting *now*), never from an older holder's view.
- **delivery**: a channel per gateway carries pairs and partner events; another
  channel reaches every gateway (facts: blocks, bans, age records; cooldowns;
  re-announce requests).
- **heartbeats**: each gateway renews a key that expires ``dead_after`` seconds
  later. A gateway whose key has expired is dead: every other gateway ends its
  chatters' chats with that gateway's sessions (``partner_left``), and a matchmaker
  drops its waiting tickets. A gateway that finds itself silent for that long (a
  stall) ends its own chats across gateways and re-announces its waiting chatters.

With the defaults (beat 1 s, dead after 3 s, checked every 0.5 s; lease 3 s, tried
every 0.5 s) a dead gateway's partners hear within about 4 s and a pool has a new
matchmaker within about 4 s: docs/design.md §5 asks for 5 s.

If Redis goes away, chats on one gateway go on; pairing and relays across gateways
wait for it. Writes are kept in order and retried; past ``max_backlog`` they are
dropped and every waiting chatter is re-announced once Redis is back.

The parts, one module each: :mod:`.link` (connection, ordered writes), :mod:`.waiting`
(this gateway's waiting chatters), :mod:`.heartbeats`, :mod:`.leases` (matchmakers,
with the Lua scripts of :mod:`.scripts`), :mod:`.deliveries` (pub/sub), :mod:`.frames`
(frame checks across gateways), :mod:`.counters`; :mod:`.broker` wires them together.
"""

from ..counters import BrokerCounters
from .broker import ALL_POOLS, RedisBroker
from .link import RedisUnavailable

__all__ = ["ALL_POOLS", "BrokerCounters", "RedisBroker", "RedisUnavailable"]
