"""The Lua scripts a matchmaker runs on Redis: each is one atomic step, so a holder that
stalled and lost its lease can never act as if it still held it (fencing)."""

from __future__ import annotations

from typing import Any, Final

import redis.asyncio as aioredis

# Take the lease if free; then a new epoch, and its mark in the stream.
ACQUIRE: Final = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local epoch = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], '*', 'k', 'epoch', 'e', epoch)
return {epoch, id}
"""

RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Publish pairs only while holding the lease (fencing), and keep their cooldowns.
# ARGV: token, number of messages, then channel/payload pairs, then member/score pairs.
PUBLISH: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
  i = i + 2
end
return 1
"""


def register(client: aioredis.Redis) -> dict[str, Any]:
    """The scripts by name ("acquire", "renew", "release", "publish"), registered on
    ``client`` (each runs by its SHA, loaded again if Redis lost it)."""
    return {
        name: client.register_script(body)
        for name, body in (
            ("acquire", ACQUIRE),
            ("renew", RENEW),
            ("release", RELEASE),
            ("publish", PUBLISH),
        )
    }
