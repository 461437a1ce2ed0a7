"""Settings for the whole test session.

The proof of work at hello (``core/admission.py``) is made cheap here: 8 bits, about
256 hashes a connection, instead of the default 16 (about 65,000), so the hundreds of
connections the suite opens cost milliseconds. It is set in ``os.environ`` at import,
before any test starts a server, so the servers the tests start as subprocesses
(``tests/servers.py``, ``tests/brokers/gateways.py``: their environment is a copy of
this one) and the settings built in-process both see it. The default difficulty is
proven apart, by a server started without these variables
(``tests/gateway/test_admission.py``).

Console passwords are hashed with argon2's smallest parameters here (8 KiB, one pass,
one lane) instead of the production 64 MiB, 3 passes, 4 lanes (tenths of a second of
both cores per hash): ``accounts.default_hashing`` is replaced at import,
for the accounts of every in-process app and command. Servers started as subprocesses
keep the production parameters; so do the tests that prove them
(``tests/moderation/test_accounts.py`` passes ``PRODUCTION_HASHING``, and checks the
default in a fresh interpreter).

Tests that need Redis take the ``namespace`` fixture: the real Redis at 127.0.0.1:6379
(``STRANGERS_TEST_REDIS_URL``), a key namespace of their own deleted afterwards.
Unreachable, those tests are skipped, except under CI (env ``CI``) where they fail: CI
makes sure Redis runs.
"""

import os
import secrets
from collections.abc import Iterator

import hypothesis
import pytest
import redis
from argon2 import PasswordHasher, Type

from strangers.moderation import accounts
from tests.brokers.gateways import REDIS_URL

TEST_POW_BITS = "8"

os.environ["STRANGERS_POW_BITS"] = TEST_POW_BITS
os.environ["STRANGERS_POW_MAX_BITS"] = TEST_POW_BITS

#: argon2id at its minimum cost: the same code paths, none of the 64 MiB.
TEST_HASHING = accounts.PasswordHashing.using(
    PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=32, type=Type.ID)
)
accounts.default_hashing = TEST_HASHING

# Property tests prove behaviour, never speed (speed is for bench/): no per-example
# deadline and no "too slow" health check, which a loaded machine (two pytest workers on
# two cores) would trip without anything being wrong.
hypothesis.settings.register_profile(
    "strangers",
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("strangers")


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
