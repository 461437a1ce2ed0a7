"""The load generator: simulated chatters against a server on this machine, or the
operator's own deployment.

Run: ``.venv/bin/python bench/loadtest.py --url ws://127.0.0.1:8000/v1/ws --scenario C``
(``--scale``, ``--processes``, ``--json-out``; several gateways: their chat sockets
separated by commas, chatter ``i`` on the ``(i mod n)``-th). ``bench/chat.py`` starts
the servers and runs the same through :func:`run`.

Its parts, in ``bench/load/``:

- ``scenarios.py``: the load shapes C, E and F (docs/design.md §7, ``docs/performance.md``) and
  ``LOAD_TEST_LIMITS``, the server limits a load test needs;
- ``targets.py``: traffic goes only to loopback or to the operator's own configured
  origin (``STRANGERS_PUBLIC_ORIGIN``), checked before any connection;
- ``chatters.py``: the simulated chatters, each a :class:`strangers.client.Client`, in
  one event loop or spread over client processes;
- ``report.py``: what they record, the figures it adds up to, and the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from load.chatters import now, run_processes, run_slice, use_uvloop
from load.report import Report, analyse, percentiles, render
from load.scenarios import LOAD_TEST_LIMITS, SCENARIOS, Scenario, scenario
from load.targets import (
    NotLoopback,
    TargetRefused,
    check_loopback,
    check_target,
    operator_targets,
    target_urls,
)
from strangers.runtime import raise_open_files_limit

__all__ = [
    "LOAD_TEST_LIMITS",
    "SCENARIOS",
    "NotLoopback",
    "Report",
    "Scenario",
    "TargetRefused",
    "analyse",
    "check_loopback",
    "check_target",
    "cli",
    "main",
    "operator_targets",
    "percentiles",
    "render",
    "run",
    "scenario",
    "target_urls",
]


async def run(
    url: str | Sequence[str],
    scenario: Scenario,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Run ``scenario`` against the chat socket at ``url``, or against several (a
    sequence, or one string of URLs separated by commas), chatter ``i`` on
    ``urls[i % n]``. Each must be loopback or the operator's public origin
    (``targets.operator_targets``); :class:`TargetRefused` before any connection
    otherwise."""
    urls = operator_targets(url)
    raise_open_files_limit()
    started = now()
    if scenario.processes > 1:
        records = await run_processes(urls, scenario, progress)
    else:
        records = await run_slice(urls, scenario, range(scenario.chatters), now() + 0.05, progress)
    report = analyse(scenario, records, now() - started)
    with contextlib.suppress(ImportError):
        import uvloop

        loop = asyncio.get_running_loop()
        report.extra["client_loop"] = "uvloop" if isinstance(loop, uvloop.Loop) else "asyncio"
    return report


def main(
    url: str | Sequence[str],
    scenario_name: str,
    *,
    scale: float = 1.0,
    json_out: str | None = None,
    processes: int | None = None,
) -> int:
    """Run a named scenario with a progress bar; print the summary table.

    ``url`` is one chat socket, or several (a sequence, or URLs separated by
    commas) to spread the chatters over round-robin.

    Exit code: 0 when the run is clean; 1 when a chatter was never paired, a pair
    was double or repeated, a round was lost or never run, or the server broke
    the protocol (see ``protocol_violations``); 2 when a target is neither loopback
    nor the operator's public origin (``targets.check_target``; refused before any
    connection, with a message that says how to allow it), or the arguments or
    settings are wrong.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=False)
    try:
        urls = operator_targets(url)
    except ValueError as exc:  # TargetRefused, and pydantic's ValidationError, are ValueErrors
        # Escaped: an IPv6 URL's brackets would read as markup; one line, for grep.
        console.print(f"[red]loadtest: {escape(str(exc))}[/red]", soft_wrap=True)
        return 2
    try:
        chosen = scenario(scenario_name, scale)
        if processes is not None:
            chosen = replace(chosen, processes=processes)
    except (KeyError, ValueError) as exc:
        console.print(f"[red]loadtest: bad scenario: {escape(str(exc))}[/red]")
        return 2
    use_uvloop()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"scenario {chosen.name}", total=chosen.chatters)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = asyncio.run(run(urls, chosen, progress))
    console.print(render(report))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
    return 0 if report.clean else 1


def cli(argv: list[str]) -> int:
    """The command: its arguments (``--help`` lists them), then :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default="ws://127.0.0.1:8000/v1/ws",
        help="chat socket of a deployment on loopback or at STRANGERS_PUBLIC_ORIGIN; several "
        "gateways: their sockets separated by commas (chatter i goes to the (i mod n)-th)",
    )
    parser.add_argument("--scenario", default="C", help="C, E or F (see docs/performance.md)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the chatter count")
    parser.add_argument("--json-out", help="also write the report as JSON to this file")
    parser.add_argument(
        "--processes", type=int, help="spread the chatters over this many client processes"
    )
    args = parser.parse_args(argv)
    return main(
        args.url, args.scenario, scale=args.scale, json_out=args.json_out, processes=args.processes
    )


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
