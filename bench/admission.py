"""What the proof of work at hello costs (docs/design.md §3; ``core/admission.py``).

Printed:

- *server*: the cost of one connection's admission on the server, in µs of this
  process's time: issuing the challenge (the difficulty policy and the network's
  history) and checking the hello's proof (one SHA-256), the median of ``--checks``
  of each (the random challenge itself, ``secrets.token_urlsafe``, is included);
- *Python solve*: what a client pays with the reference solver
  (``admission.solve``, one thread) at 16, 18 and 20 bits: the median and the max over
  ``--runs`` random challenges, with the hash rate. A bot pays this for every session;
  a person pays it once per connection, in the page's worker;
- *page worker*: the same with ``web/pow-worker.js`` in Node (V8, as in Chromium), when
  ``node`` is installed: a browser on this machine pays about this.

The number of hashes to a solution is geometric (mean ``2**bits``), so single solves
vary a lot; the medians are of a few runs only. Nothing is asserted.

Run: ``.venv/bin/python bench/admission.py`` (``--runs``, ``--checks``, ``--bits``,
``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from strangers.core.admission import Admission, DifficultyPolicy, NetworkHistory, solve

WORKER = Path(__file__).resolve().parent.parent / "src/strangers/web/pow-worker.js"

#: Runs the worker's solver in Node on the challenges given, printing the seconds each took.
NODE_SCRIPT = """
const src = require('fs').readFileSync(process.argv[1], 'utf8');
const fakeSelf = {addEventListener() {}, postMessage() {}};
const solve = new Function('self', src + '\\nreturn solve;')(fakeSelf);
const out = JSON.parse(process.argv[2]).map(([c, b]) => {
  const t = process.hrtime.bigint();
  const nonce = solve(c, b);
  return [nonce, Number(process.hrtime.bigint() - t) / 1e9];
});
console.log(JSON.stringify(out));
"""


def server_cost(checks: int) -> dict[str, float]:
    """µs per challenge issued, and per proof checked (median of ``checks``)."""
    admission = Admission(
        DifficultyPolicy(base_bits=8, max_bits=8), NetworkHistory(), lifetime=30.0
    )
    networks = [f"n:{secrets.token_hex(16)}" for _ in range(1000)]
    issue_ns, check_ns = [], []
    for i in range(checks):
        network = networks[i % len(networks)]
        t0 = time.perf_counter_ns()
        challenge = admission.issue(secrets.token_urlsafe(18), network, online=1000, now=float(i))
        issue_ns.append(time.perf_counter_ns() - t0)
        nonce = solve(challenge.value, challenge.bits)
        t0 = time.perf_counter_ns()
        challenge.check(challenge.value, nonce, now=float(i))
        check_ns.append(time.perf_counter_ns() - t0)
    return {
        "issue_us": round(statistics.median(issue_ns) / 1000, 2),
        "check_us": round(statistics.median(check_ns) / 1000, 2),
    }


def python_solves(bits: int, runs: int) -> dict[str, float]:
    times, hashes = [], 0
    for _ in range(runs):
        challenge = secrets.token_urlsafe(18)
        t0 = time.process_time()
        nonce = solve(challenge, bits)
        times.append(time.process_time() - t0)
        hashes += int(nonce) + 1
    return {
        "bits": bits,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "hashes_per_s": round(hashes / sum(times)) if sum(times) else 0,
    }


def worker_solves(bits: int, runs: int) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    cases = [[secrets.token_urlsafe(18), bits] for _ in range(runs)]
    done = subprocess.run(
        [node, "-e", NODE_SCRIPT, str(WORKER), json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(done.stdout)
    times = [seconds for _, seconds in results]
    hashes = sum(int(nonce) + 1 for nonce, _ in results)
    return {
        "bits": bits,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "hashes_per_s": round(hashes / sum(times)) if sum(times) else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="challenges solved per difficulty")
    parser.add_argument("--checks", type=int, default=20_000, help="admissions timed")
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 18, 20])
    parser.add_argument("--json", action="store_true", help="one JSON line instead of text")
    args = parser.parse_args()

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_before": os.getloadavg()[0],
        "server": server_cost(args.checks),
        "python": [python_solves(bits, args.runs) for bits in args.bits],
        "worker": [w for bits in args.bits if (w := worker_solves(bits, args.runs))],
        "load_after": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(report))
        return
    server = report["server"]
    print(f"{report['machine']}; load {report['load_before']:.2f} → {report['load_after']:.2f}")
    print(
        f"server, per connection: issue a challenge {server['issue_us']} µs, "
        f"check a proof {server['check_us']} µs (median of {args.checks})"
    )
    for name, rows in (
        ("Python solve (admission.solve)", report["python"]),
        ("page worker (pow-worker.js in Node)", report["worker"]),
    ):
        if not rows:
            print(f"{name}: node is not installed")
            continue
        print(f"{name}, {args.runs} challenges each:")
        for row in rows:
            print(
                f"  {row['bits']} bits: median {row['median_s']} s, max {row['max_s']} s, "
                f"{row['hashes_per_s']:,} hashes/s"
            )


if __name__ == "__main__":
    main()
