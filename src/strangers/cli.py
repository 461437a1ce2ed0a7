"""The ``strangers`` command: serve, run a check service, migrate, purge, manage
moderators and hash lists, print transparency figures, and generate the reference docs.
(The load generator is a benchmark, not part of the runtime package:
``bench/loadtest.py``.)"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated

import typer

from .moderation.transparency import transparency_command
from .runtime import raise_open_files_limit, settle_garbage_collector

app = typer.Typer(
    help="strangers: anonymous one-to-one chat, safe by default.", no_args_is_help=True
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default STRANGERS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default STRANGERS_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Gateway processes on this host, sharing the port (one a core); more "
            "than 1 needs STRANGERS_REDIS_URL (docs/deploy.md, 'One host, every core').",
        ),
    ] = 1,
    reuse_port: Annotated[
        bool, typer.Option(hidden=True, help="Listen with SO_REUSEPORT (a worker).")
    ] = False,
    migrate: Annotated[
        bool, typer.Option(hidden=True, help="Migrate the records before serving.")
    ] = True,
) -> None:
    """Serve the page and the chat socket: one process with in-memory matching by
    default, or --workers N gateways on Redis sharing the port."""
    import uvicorn

    from .gateway.app import create_app
    from .gateway.serving import listening_socket, server_config
    from .gateway.settings import Settings
    from .logs import configure as configure_logging

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    if workers > 1 and not settings.redis_url:
        logging.getLogger("strangers").error(
            "--workers %d needs STRANGERS_REDIS_URL: in-memory matching cannot span "
            "processes, and the pools must never mix",
            workers,
        )
        raise typer.Exit(2)
    if migrate:
        # The embedded default applies its own migrations; a deployment may run
        # `strangers migrate` first, after which this finds nothing to do.
        migrate_in_child()
    if workers > 1:
        from .supervisor import Supervisor, worker_command

        base = settings.gateway_id or f"g{secrets.token_hex(4)}"
        logging.getLogger("strangers").info(
            "serving http://%s:%d with %d gateways (%s-1…%d)",
            settings.host,
            settings.port,
            workers,
            base,
            workers,
        )
        command = worker_command(settings.host, settings.port)
        raise typer.Exit(Supervisor(command, workers, base).run())
    raise_open_files_limit()
    config = server_config(create_app(settings), settings)
    sockets = [listening_socket(settings.host, settings.port)] if reuse_port else None
    logging.getLogger("strangers").info(
        "serving http://%s:%d (%s)", settings.host, settings.port, settings.env
    )
    settle_garbage_collector()
    uvicorn.Server(config).run(sockets=sockets)


@app.command("check-service")
def check_service(
    host: Annotated[
        str | None, typer.Option(help="Address (default STRANGERS_CHECK_SERVICE_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default STRANGERS_CHECK_SERVICE_PORT).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Check-worker processes at most (default STRANGERS_CHECK_SERVICE_WORKERS)."
        ),
    ] = None,
) -> None:
    """Check frames for gateways on other hosts (STRANGERS_FRAME_CHECK_MODE=remote): one
    check-worker process per gateway connection, each proving
    STRANGERS_CHECK_SERVICE_SECRET (docs/deploy.md, 'Check services on their own hosts')."""
    import asyncio
    import signal

    from .core.network import is_loopback_host
    from .gateway.settings import Settings
    from .logs import configure as configure_logging
    from .safety.check_service import CheckService, serve_forever
    from .safety.remote import service_tls
    from .safety.workers import WorkerSpec

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["check_service_host"] = host
    if port is not None:
        overrides["check_service_port"] = port
    if workers is not None:
        overrides["check_service_workers"] = workers
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    logger = logging.getLogger("strangers")
    listen = settings.check_service_host
    tls = None
    if settings.check_service_cert is not None and settings.check_service_key is not None:
        try:
            tls = service_tls(settings.check_service_cert, settings.check_service_key)
        except (OSError, ValueError) as exc:
            logger.error("not serving: cannot load the TLS certificate and key (%s)", exc)
            raise typer.Exit(2) from None
    elif not is_loopback_host(listen) and not settings.check_service_plaintext:
        logger.error(
            "not serving: a check service on %s (not loopback) needs TLS "
            "(STRANGERS_CHECK_SERVICE_CERT and STRANGERS_CHECK_SERVICE_KEY), or "
            "STRANGERS_CHECK_SERVICE_PLAINTEXT=true on a private link",
            listen,
        )
        raise typer.Exit(2)
    if settings.check_service_secret is None:
        if not is_loopback_host(listen):
            logger.error(
                "not serving: a check service on %s (not loopback) needs "
                "STRANGERS_CHECK_SERVICE_SECRET",
                listen,
            )
            raise typer.Exit(2)
        # On loopback only: a secret of this run, which no gateway knows unless given it.
        logger.warning(
            "STRANGERS_CHECK_SERVICE_SECRET is unset: no gateway can prove it; set the "
            "same secret here and in the gateways"
        )
        secret = secrets.token_hex(32).encode()
    else:
        secret = settings.check_secret()
    service = CheckService(
        WorkerSpec.from_settings(settings),
        secret,
        workers=settings.check_service_workers,
        check_timeout=settings.frame_check_timeout,
    )

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await serve_forever(service, listen, settings.check_service_port, tls)

    raise_open_files_limit()
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    except OSError as exc:
        logger.error(
            "not serving: cannot listen on %s:%d (%s)", listen, settings.check_service_port, exc
        )
        raise typer.Exit(1) from None


def migrate_in_child() -> None:
    """Run ``strangers migrate`` in a child process with this one's environment, before
    serving; exit 1 if it fails.

    A child, not a call: Alembic and its DDL machinery would stay in the chat process's
    memory for its whole life after one upgrade (issue 18, a chat process of at most
    120 MB). The child reads the same ``STRANGERS_*`` variables, so it migrates the
    database this process serves (``serve``'s options are the host and port only), and
    logs in the same format to the same stderr; its one line on stdout is dropped, so a
    JSON log stays all JSON.
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "strangers", "migrate"], stdout=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        logging.getLogger("strangers").error(
            "not serving: migrating the records failed (strangers migrate exited with %d)",
            done.returncode,
        )
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Bring the records database (STRANGERS_DATABASE_URL, or SQLite in the data
    directory) to the newest schema."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from .gateway.settings import Settings
    from .logs import configure as configure_logging
    from .moderation.migrate import upgrade
    from .moderation.offline import fail

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        upgrade(settings.records_url())
    except CommandError as exc:
        # Alembic's own refusals (a database at a revision this version does not know)
        # name revisions, never the URL.
        raise fail(f"the records cannot be migrated: {exc}") from None
    except (SQLAlchemyError, OSError, ValueError) as exc:
        # The class only: a database URL may hold a password (moderation/offline.py).
        raise fail(f"the records are unavailable ({type(exc).__name__})") from None
    typer.echo("records are at the newest schema")


@app.command()
def purge() -> None:
    """Delete evidence past its retention (90 days; a year for escalated cases)."""
    from datetime import UTC, datetime

    from .moderation.offline import with_records
    from .moderation.records import Records

    async def work(records: Records) -> int:
        return await records.cases.purge(now=datetime.now(UTC))

    typer.echo(f"purged {with_records(work)} evidence items past retention")


@app.command()
def protocol(
    out: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "docs/protocol.md"
    ),
) -> None:
    """Write docs/protocol.md from the typed protocol messages."""
    from .core.schema import protocol_markdown

    out.write_text(protocol_markdown(), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("settings")
def settings_table() -> None:
    """Print the settings table (Markdown) that the README carries."""
    from .gateway.settings import settings_markdown

    typer.echo(settings_markdown(), nl=False)


hashes = typer.Typer(
    help="Known-abuse hash lists (PDQ) the video checks match frames against.",
    no_args_is_help=True,
)
app.add_typer(hashes, name="hashes")


@hashes.command("import")
def hashes_import(
    file: Annotated[Path, typer.Argument(help="One 64-hex-digit hash a line, then a label.")],
    list_name: Annotated[
        str | None, typer.Option("--list", help="The list's name (default: the file's stem).")
    ] = None,
) -> None:
    """Import a hash list into the records (all or nothing), migrating them first."""
    from datetime import UTC, datetime

    from .moderation.hash_import import HashListError, parse_hash_list
    from .moderation.offline import fail, with_records
    from .moderation.records import Records

    name = file.stem if list_name is None else list_name
    try:
        # utf-8-sig: a byte-order mark, as spreadsheet exports write, is not part of line 1.
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 text") from None
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        entries = parse_hash_list(text)
    except HashListError as exc:
        raise fail(f"{file}, line {exc.line}: {exc.detail}; nothing imported") from None

    async def work(records: Records) -> tuple[int, int]:
        return await records.hash_lists.add(entries, list_name=name, now=datetime.now(UTC))

    added, present = with_records(work, refused="; nothing imported")
    typer.echo(f"imported {added} hashes ({present} already present) into list {name}")


moderator = typer.Typer(
    help="Moderator console accounts (the console at /mod).", no_args_is_help=True
)
app.add_typer(moderator, name="moderator")


@moderator.command("add")
def moderator_add(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits, '.', '_' or '-'.")],
    role: Annotated[str | None, typer.Option(help="moderator or admin (required).")] = None,
    totp: Annotated[
        bool, typer.Option("--totp", help="Require a TOTP code; prints the otpauth:// URI.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
) -> None:
    """Add a console account (argon2id password, optional TOTP), migrating the records first."""
    import sys
    from datetime import UTC, datetime

    from .moderation import offline
    from .moderation.accounts import Accounts, check_name, check_password, check_role
    from .moderation.records import RecordError, Records

    def fail(message: str) -> typer.Exit:
        return offline.fail(f"{message}; nothing added")

    if role is None:
        raise fail("--role is required: moderator or admin")
    try:
        check_name(name)
        check_role(role)
    except RecordError as exc:
        raise fail(exc.detail) from None
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise fail("no password on stdin")
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True)
        if typer.prompt("Password again", hide_input=True) != password:
            raise fail("the two passwords differ")
    try:
        check_password(password, name=name)
    except RecordError as exc:
        raise fail(exc.detail) from None

    async def work(records: Records) -> str | None:
        return await Accounts(records).add(name, password, role, totp=totp, now=datetime.now(UTC))

    uri = offline.with_records(work, refused="; nothing added")
    typer.echo(f"added {role} {name}")
    if uri is not None:
        # Shown once: the secret is stored sealed and cannot be read back.
        typer.echo("add this to an authenticator app (shown only now):")
        typer.echo(uri)


app.command(
    "transparency",
    help="Transparency figures for a period (DSA arts. 15 and 24): table, JSON or CSV.",
)(transparency_command)
