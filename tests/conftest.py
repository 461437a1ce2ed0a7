"""Settings for the whole test session.

The proof of work at hello (``core/admission.py``) is made cheap here: 8 bits, about
256 hashes a connection, instead of the default 16 (about 65,000), so the hundreds of
connections the suite opens cost milliseconds. It is set in ``os.environ`` at import,
before any test starts a server, so the servers the tests start as subprocesses
(``tests/servers.py``, ``tests/brokers/gateways.py``: their environment is a copy of
this one) and the settings built in-process both see it. The default difficulty is
proven apart, by a server started without these variables
(``tests/gateway/test_admission.py``).
"""

import os

TEST_POW_BITS = "8"

os.environ["STRANGERS_POW_BITS"] = TEST_POW_BITS
os.environ["STRANGERS_POW_MAX_BITS"] = TEST_POW_BITS
