"""Where things live in Redis (docs/design.md §5).

Every key of a pool carries the pool in a hash tag (``{adult-text}``), so the keys a
matchmaker touches together (its lease, its epoch, its join stream, its cooldowns) sit
in one slot and the layout works on Redis Cluster, where a script may only touch keys
of one slot. Channels are not keys: pub/sub reaches every node of a cluster.

::

    <ns>:{<pool>}:lease      the matchmaker lease: "<node>:<nonce>", PX lease time
    <ns>:{<pool>}:epoch      incremented at every takeover (fences stale holders)
    <ns>:{<pool>}:joins      stream of join / leave / epoch entries
    <ns>:{<pool>}:recent     sorted set "deviceA|deviceB" -> Unix end of the cooldown
    <ns>:node:<node>         a node's heartbeat, PX the time after which it is dead
    <ns>:nodes               set of the nodes that have announced themselves
    <ns>:online:<node>       a node's chatters looking or chatting by mode (JSON), PX
                             ONLINE_TTL (for GET /v1/online)
    channel <ns>:to:<node>   a node's delivery channel (pairs, relays)
    channel <ns>:all         every node (facts, re-announce requests)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.pools import Pool


@dataclass(frozen=True, slots=True)
class PoolKeys:
    lease: str
    epoch: str
    joins: str
    recent: str


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "strangers"

    def pool(self, pool: Pool) -> PoolKeys:
        tag = f"{self.namespace}:{{{pool.key}}}"
        return PoolKeys(f"{tag}:lease", f"{tag}:epoch", f"{tag}:joins", f"{tag}:recent")

    def heartbeat(self, node: str) -> str:
        return f"{self.namespace}:node:{node}"

    def online(self, node: str) -> str:
        return f"{self.namespace}:online:{node}"

    @property
    def nodes(self) -> str:
        return f"{self.namespace}:nodes"

    def inbox(self, node: str) -> str:
        return f"{self.namespace}:to:{node}"

    @property
    def everyone(self) -> str:
        return f"{self.namespace}:all"
