"""The Redis these tests need: the real one at 127.0.0.1:6379 (``STRANGERS_TEST_REDIS_URL``).

Unreachable, the tests are skipped, except under CI (env ``CI``) where they fail:
CI makes sure Redis runs. Each test gets a namespace of its own, deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from tests.brokers.gateways import REDIS_URL


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")


@pytest.fixture
def namespace() -> Iterator[str]:
    """A fresh key namespace on the real Redis, removed after the test."""
    _require_redis()
    name = f"test-{secrets.token_hex(6)}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def redis_client(namespace: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()
