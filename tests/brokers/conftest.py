"""The Redis these tests need: the ``namespace`` fixture of tests/conftest.py (the real
Redis at 127.0.0.1:6379, a namespace of its own per test), and a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.brokers.gateways import REDIS_URL


@pytest.fixture
async def redis_client(namespace: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()
