"""The files in deploy/ and the "Several nodes" section of docs/deploy.md stay honest.

Offline checks: the compose file parses and wires what the guide says; every
``STRANGERS_*`` name they use is a real setting; the example settings file loads; the
systemd units run the real commands with the promised hardening; nginx upgrades
websockets on /v1/ws and routes by client address; coturn's file is the documented
one. ``systemd-analyze verify`` and ``nginx -t`` run when those programs are installed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# PyYAML comes with uvicorn[standard], a dependency of the server.
import yaml

from strangers.gateway.settings import Settings

from .certificates import self_signed

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs" / "deploy.md"
SECTION_TITLE = "## Several nodes"

SETTING_NAME = re.compile(r"\bSTRANGERS_[A-Z][A-Z0-9_]*")


def several_nodes_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    assert SECTION_TITLE in text, "docs/deploy.md lost its 'Several nodes' section"
    return text.split(SECTION_TITLE, 1)[1]


def deploy_files() -> list[Path]:
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


# --- settings names --------------------------------------------------------------------


def test_every_strangers_variable_used_is_a_setting():
    known = {f"STRANGERS_{name.upper()}" for name in Settings.model_fields}
    used: dict[str, set[str]] = {}
    sources = [
        (path.relative_to(DEPLOY.parent).as_posix(), path.read_text()) for path in deploy_files()
    ]
    sources.append(("docs/deploy.md (Several nodes)", several_nodes_section()))
    for where, text in sources:
        for name in SETTING_NAME.findall(text):
            used.setdefault(name, set()).add(where)
    unknown = {name: sorted(places) for name, places in used.items() if name not in known}
    assert not unknown, f"not fields of Settings: {unknown}"
    # The shared settings the guide is about are all there.
    for name in ("STRANGERS_REDIS_URL", "STRANGERS_SECRET_KEY", "STRANGERS_EVIDENCE_KEY"):
        assert name in used


# --- the example settings file ---------------------------------------------------------


def example_assignments() -> list[tuple[str, str]]:
    pairs = []
    for line in (DEPLOY / "strangers.env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not VAR=value: {line!r}"
        pairs.append((name, value))
    return pairs


def test_example_settings_are_read_alike_by_systemd_and_compose():
    for name, value in example_assignments():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
        # Unquoted, no spaces, no "$": systemd and compose's dotenv agree on these.
        assert not value.startswith(("'", '"')), name
        assert " " not in value and "$" not in value, name
    names = dict(example_assignments())
    assert names["STRANGERS_ENV"] == "production"
    assert "STRANGERS_PORT" not in names, "the port differs per gateway"


def test_example_settings_load_as_settings(monkeypatch):
    for name in list(os.environ):
        if name.startswith("STRANGERS_"):
            monkeypatch.delenv(name)
    for name, value in example_assignments():
        if name.startswith("STRANGERS_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "production"
    assert settings.redis_url and settings.database_url
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert len(settings.turn_urls) == 2 and settings.turn_configured()


def test_the_example_generates_keys_the_server_accepts():
    from cryptography.fernet import Fernet

    text = (DEPLOY / "strangers.env.example").read_text()
    commands = re.findall(r"^#\s+python3 -c (.+)$", text, flags=re.MULTILINE)
    assert len(commands) >= 3
    outputs = []
    for command in commands:
        code = shlex.split(command)[0]
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        outputs.append(result.stdout.strip())
    secret, evidence_key = outputs[0], outputs[1]
    assert len(secret) >= 32
    Fernet(evidence_key.encode())  # raises unless it is a Fernet key
    for value in outputs:
        assert "$" not in value and " " not in value


# --- docker compose --------------------------------------------------------------------


def test_compose_file_wires_the_documented_services():
    services = compose()["services"]
    for name in ("redis", "postgres", "migrate", "gateway1", "gateway2", "gateway3"):
        assert name in services, name
    assert {"nginx", "coturn"} <= set(services)

    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    # No persistence, and never evict a lease or a join stream.
    assert options["--save"] == ""
    assert options["--appendonly"] == "no"
    assert options["--maxmemory-policy"] == "noeviction"
    assert "--maxmemory" in options and "--requirepass" in options

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert any(":/var/lib/postgresql/data" in volume for volume in postgres["volumes"])

    assert services["migrate"]["command"] == ["migrate"]
    for name in ("gateway1", "gateway2", "gateway3"):
        gateway = services[name]
        assert gateway["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / gateway["build"]["context"] / "pyproject.toml").is_file()
        assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert gateway["environment"]["STRANGERS_REDIS_URL"].startswith("redis://")
        assert gateway["environment"]["STRANGERS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "command" not in gateway, "the image's default command is `strangers serve`"

    nginx = services["nginx"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    coturn = services["coturn"]
    assert coturn["image"].startswith("coturn/coturn")
    assert coturn["network_mode"] == "host"
    assert any(v.endswith(":/etc/coturn/turnserver.conf:ro") for v in coturn["volumes"])


def test_compose_settings_come_from_the_example_file():
    services = compose()["services"]
    env_files = {services[name]["env_file"] for name in ("migrate", "gateway1", "cli")}
    assert env_files == {".env"}
    assert (DEPLOY / "strangers.env.example").is_file()
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    example = dict(example_assignments())
    for variable in re.findall(r"\$\{([A-Z_]+):\?", compose_text):
        assert variable in example, f"{variable} is read from .env but not in the example"


def test_compose_gateways_are_what_nginx_proxies_to():
    services = compose()["services"]
    published = set()
    for name in ("gateway1", "gateway2", "gateway3"):
        (mapping,) = services[name]["ports"]
        host, port, _container = mapping.split(":")
        assert host == "127.0.0.1", "gateways are published on loopback only"
        published.add(f"{host}:{port}")
    assert published == set(upstream_servers())
    for name in ("redis", "postgres"):
        assert "ports" not in services[name], f"{name} must not be published"


def test_compose_gateways_believe_forwarded_addresses_from_the_bridge_only():
    document = compose()
    (subnet_config,) = document["networks"]["backend"]["ipam"]["config"]
    subnet = ipaddress.ip_network(subnet_config["subnet"])
    bridge_gateway = ipaddress.ip_address(subnet_config["gateway"])
    trusted = ipaddress.ip_network(
        document["services"]["gateway1"]["environment"]["FORWARDED_ALLOW_IPS"]
    )
    assert bridge_gateway in trusted and trusted.subnet_of(subnet)


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_builds_a_non_root_image_with_its_migrations():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.MULTILINE)
    assert re.search(r"pip install [^\n]*\s\.$", text, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["strangers"]' in text and 'CMD ["serve"]' in text
    # The Alembic scripts ship inside the package: the image copies nothing by hand and
    # checks that the installed copy has them.
    from strangers.moderation import migrate

    assert hasattr(migrate, "MIGRATIONS")
    assert "from strangers.moderation.migrate import MIGRATIONS" in text
    assert not re.search(r"^(COPY|RUN cp)\b[^\n]*migrations", text, flags=re.MULTILINE)


def test_docker_build_context_sends_what_the_dockerfile_copies():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the context is an allow-list"
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE):
        *sources, _destination = line.split()
        for source in sources:
            assert source in allowed, f"{source} is copied but not sent to the build"
            assert (ROOT / source).exists(), source


# --- systemd ---------------------------------------------------------------------------


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]}: keys may repeat in systemd."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{name}: {line!r} outside a section"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for k, value in section if k == key]


def test_gateway_unit_serves_one_port_per_instance_with_hardening():
    sections = unit("strangers@.service")
    service = sections["Service"]
    (exec_start,) = values(service, "ExecStart")
    assert re.search(r"/strangers serve\b", exec_start)
    assert "STRANGERS_PORT=%i" in values(service, "Environment")
    assert values(service, "EnvironmentFile") == ["/etc/strangers/strangers.env"]
    assert values(service, "Restart") == ["on-failure"]
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    for key, value in expected.items():
        assert values(service, key) == [value], key
    assert values(service, "StateDirectory") and values(service, "MemoryMax")
    assert values(service, "User") or values(service, "DynamicUser") == ["yes"]
    after = " ".join(values(sections["Unit"], "After")).split()
    for dependency in (
        "network-online.target",
        "redis-server.service",
        "postgresql.service",
        "strangers-migrate.service",
    ):
        assert dependency in after, dependency
    assert "strangers-migrate.service" in " ".join(
        values(sections["Unit"], "Wants") + values(sections["Unit"], "Requires")
    )
    assert values(sections["Install"], "WantedBy") == ["multi-user.target"]


def test_migrate_unit_is_a_oneshot_strangers_migrate():
    sections = unit("strangers-migrate.service")
    service = sections["Service"]
    assert values(service, "Type") == ["oneshot"]
    (exec_start,) = values(service, "ExecStart")
    assert re.search(r"/strangers migrate$", exec_start)
    assert values(service, "EnvironmentFile") == ["/etc/strangers/strangers.env"]
    (gateway_start,) = values(unit("strangers@.service")["Service"], "ExecStart")
    assert exec_start.split()[0] == gateway_start.split()[0], "one installed release"


def test_systemd_analyze_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    program = tmp_path / "strangers"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    for path in (DEPLOY / "systemd").glob("*.service"):
        text = path.read_text().replace("/opt/strangers/venv/bin/strangers", str(program))
        (tmp_path / path.name).write_text(text)
    (tmp_path / "strangers@8001.service").symlink_to(tmp_path / "strangers@.service")
    result = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            str(tmp_path / "strangers@8001.service"),
            str(tmp_path / "strangers-migrate.service"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and not complaints, result.stderr


# --- nginx -----------------------------------------------------------------------------

Block = list["Directive"]


class Directive:
    """One nginx directive: its name, its arguments and, for a block, its children."""

    def __init__(self, name: str, args: list[str], block: Block | None = None) -> None:
        self.name, self.args, self.block = name, args, block

    def __repr__(self) -> str:
        return f"{self.name} {' '.join(self.args)}"


def parse_nginx(text: str) -> Block:
    """Enough of nginx's grammar for this file: words, quoted strings, ';', '{', '}'."""
    tokens = re.findall(r"\"[^\"]*\"|'[^']*'|[{};]|[^\s{};\"']+", re.sub(r"#[^\n]*", "", text))
    position = 0

    def block() -> Block:
        nonlocal position
        directives: Block = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.append(Directive(words[0], words[1:]))
                words = []
            elif token == "{":
                directives.append(Directive(words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return directives
            else:
                words.append(token.strip("\"'"))
        assert not words, f"unterminated directive {words}"
        return directives

    return block()


def find(block: Block, name: str, *args: str) -> list[Directive]:
    return [d for d in block if d.name == name and d.args[: len(args)] == list(args)]


def nginx() -> Block:
    return parse_nginx((DEPLOY / "nginx.conf").read_text())


def https_server() -> Block:
    (http,) = find(nginx(), "http")
    servers = [d.block for d in find(http.block, "server") if find(d.block, "listen", "443")]
    (server,) = servers
    return server


def upstream_servers() -> list[str]:
    (http,) = find(nginx(), "http")
    (upstream,) = find(http.block, "upstream", "strangers_gateways")
    return [d.args[0] for d in find(upstream.block, "server")]


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[unit]


def header_values(block: Block) -> dict[str, str]:
    return {d.args[0].lower(): d.args[1] for d in find(block, "proxy_set_header")}


def test_nginx_upgrades_websockets_on_the_chat_socket():
    (http,) = find(nginx(), "http")
    (connection_map,) = find(http.block, "map", "$http_upgrade", "$connection_upgrade")
    assert {tuple(d.args) for d in connection_map.block} >= {("upgrade",), ("close",)}

    server = https_server()
    (socket,) = find(server, "location", "=", "/v1/ws")
    version = find(socket.block, "proxy_http_version") or find(server, "proxy_http_version")
    assert version[0].args == ["1.1"]
    headers = header_values(socket.block)
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    (read_timeout,) = find(socket.block, "proxy_read_timeout")
    assert seconds(read_timeout.args[0]) >= 300, "a quiet chat must not be cut"
    assert find(socket.block, "proxy_pass")[0].args == ["http://strangers_gateways"]


def test_nginx_routes_by_client_address_and_passes_it_on():
    (http,) = find(nginx(), "http")
    (upstream,) = find(http.block, "upstream", "strangers_gateways")
    hashed = find(upstream.block, "hash", "$remote_addr") or find(upstream.block, "ip_hash")
    assert hashed, "the frames must reach the gateway of the socket"

    server = https_server()
    (frames,) = find(server, "location", "=", "/v1/frames")
    assert find(frames.block, "proxy_pass")[0].args == ["http://strangers_gateways"]
    # A location with its own proxy_set_header inherits none from the server.
    for location in [server, *(d.block for d in find(server, "location"))]:
        headers = header_values(location)
        if headers:
            assert headers.get("x-forwarded-for") == "$remote_addr", location
            assert headers.get("x-forwarded-proto") == "$scheme", location
            assert headers.get("host") == "$host", location
    (metrics,) = find(server, "location", "=", "/metrics")
    assert not find(metrics.block, "proxy_pass"), "metrics are not for the world"


def test_nginx_logs_no_client_address():
    (http,) = find(nginx(), "http")
    formats = {d.args[0]: " ".join(d.args[1:]) for d in find(http.block, "log_format")}
    for access_log in find(http.block, "access_log"):
        assert access_log.args[-1] in formats, "the default format logs $remote_addr"
        assert "addr" not in formats[access_log.args[-1]].replace("$upstream_addr", "")


def test_nginx_accepts_the_configuration(tmp_path):
    program = shutil.which("nginx")
    if program is None:
        pytest.skip("nginx is not installed")
    certificate = self_signed(tmp_path, "strangers.example.org")
    cert_path, key_path = certificate.cert, certificate.key
    text = (DEPLOY / "nginx.conf").read_text()
    text = text.replace("/etc/letsencrypt/live/strangers.example.org/fullchain.pem", str(cert_path))
    text = text.replace("/etc/letsencrypt/live/strangers.example.org/privkey.pem", str(key_path))
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    text = text.replace("/run/nginx.pid", f"{tmp_path}/nginx.pid")
    if os.geteuid() != 0:
        text = text.replace("user www-data;", "")
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    result = subprocess.run(
        [program, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- coturn and the docs ---------------------------------------------------------------


def test_turnserver_conf_is_the_one_the_docs_show():
    text = DOCS.read_text(encoding="utf-8")
    after = text.split("`/etc/turnserver.conf`", 1)[1]
    documented = after.split("```\n", 1)[1].split("```", 1)[0]
    shipped = (DEPLOY / "turnserver.conf").read_text()
    assert shipped.endswith(documented)
    header = shipped[: -len(documented)]
    assert all(line.startswith("#") or not line for line in header.splitlines())


def test_the_guide_names_only_files_that_exist():
    section = several_nodes_section()
    for link in re.findall(r"\]\((\.\./[^)#]+)\)", section):
        assert (DOCS.parent / link).exists(), link
    for path in set(re.findall(r"`deploy/([\w./@-]+)`", section)):
        assert (DEPLOY / path).exists(), path
    for name in ("docker-compose.yml", "nginx.conf", "Dockerfile", "strangers.env.example"):
        assert f"`{name}`" in section or f"deploy/{name}" in section, name


def test_the_guide_covers_what_an_operator_needs():
    section = several_nodes_section()
    for phrase in (
        "systemctl enable --now strangers@8001 strangers@8002",
        "noeviction",
        "strangers migrate",
        "partner_left",
        "X-Forwarded-For",
        "hash $remote_addr consistent",
        "/v1/frames",
        "Redis Cluster",
    ):
        assert phrase in section, phrase
