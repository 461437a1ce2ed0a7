"""Settings from ``STRANGERS_*`` environment variables (pydantic-settings).

Every setting has a safe default for the laptop (``make run``); the README's
settings table is generated from this class (``strangers settings``) and a
test keeps the two in step.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..core.face_age import FaceAgeRules
from ..core.limits import Limits
from ..core.matching import MatchRules
from ..moderation import settings as records_settings
from ..safety.remote import ServiceAddress, secret_key

# Issue 9, rate limits block: what `limits.parse` takes ("10/minute", "5 per 15 minutes"),
# at least one per period; and an origin as browsers send it (RFC 6454 §6.1).
LIMIT_PATTERN = r"^\s*[1-9][0-9]*\s*(/|per)\s*([1-9][0-9]*\s*)?(second|minute|hour|day)s?\s*$"
ORIGIN_PATTERN = r"^https?://[^/?#\s]+$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRANGERS_", extra="ignore")

    # The records' own settings (moderation/settings.py): one definition for both.
    env: records_settings.Environment = records_settings.ENV
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    data_dir: Path = records_settings.DATA_DIR
    secret_key: SecretStr | None = Field(
        None,
        description="Signs device tokens (≥ 32 characters). Generated into the data directory "
        "when unset, except in production.",
    )
    database_url: str | None = records_settings.DATABASE_URL
    evidence_key: SecretStr | None = records_settings.EVIDENCE_KEY
    ban_refresh_seconds: float = Field(
        2.0,
        gt=0,
        description="How often bans are reloaded from the records for the check at hello.",
    )
    terms_file: Path | None = Field(
        None,
        description="The operator's Terms of use (plain text with a little Markdown: `#` "
        "headings, `-` lists, blank-line paragraphs; shown as text, never as HTML). "
        "`{lang}` in the path is replaced by `en` or `fr`. Unset: the defaults shipped.",
    )
    privacy_file: Path | None = Field(
        None,
        description="The operator's Privacy notice, as `terms_file`. Unset: the defaults shipped.",
    )
    turn_urls: list[str] = Field(
        default_factory=list,
        description='TURN server URLs for video, e.g. `["turns:turn.example.org:5349"]` '
        "(JSON). Unset: no relay (development only; production offers no video).",
    )
    turn_secret: SecretStr | None = Field(
        None, description="The secret shared with coturn (`static-auth-secret`)."
    )
    turn_ttl: int = Field(
        3600, ge=60, le=86400, description="Seconds a TURN credential stays valid."
    )
    teen_pool: bool = Field(False, description="Open the separate 13–17 pool (off: adults only).")
    age_lock_hours: float = Field(
        24.0, gt=0, description="How long an under-age answer keeps a device refused."
    )
    age_recheck_minutes: float = Field(
        10.0,
        gt=0,
        description="How long a device that stated an age under 18 in the adult pool waits "
        "before the age question is asked again.",
    )
    network_hold_minutes: float = Field(
        15.0,
        ge=0,
        description="How long a network that gave an answer or statement under 18 keeps "
        "devices not yet known there as adults from being welcomed as adults (0: off; "
        "docs/safety.md, Age).",
    )
    face_age_challenge: float = Field(
        16.0,
        gt=0,
        le=18,
        description="In the adult video pool, facial age estimates of a chatter's own camera "
        "under this age, `face_age_checks` in a row, send the device back to the age "
        "question (docs/safety.md, Age from the camera).",
    )
    face_age_clearly_adult: float = Field(
        30.0,
        ge=18,
        description="In the teen video pool, estimates at or over this age, "
        "`face_age_checks` in a row, bar the device from the teen pool and open a case.",
    )
    face_age_checks: int = Field(
        3, ge=1, le=10, description="Estimates in a row that it takes to act on a face's age."
    )
    interest_timeout: float = Field(
        10.0, ge=0, description="Seconds interests are required before a random stranger."
    )
    language_timeout: float = Field(
        5.0, ge=0, description="Seconds the same language is preferred after that."
    )
    repair_cooldown: float = Field(
        1800.0, ge=0, description="Seconds before the same two devices may meet again."
    )
    quiet_after: float = Field(
        8.0,
        ge=0,
        description="Seconds of waiting after which a chatter is told why it still waits "
        "(`queue`: nobody else is looking, or only strangers it met within `repair_cooldown`).",
    )
    same_device_pairs: bool | None = Field(
        None,
        description="Let two tabs of one browser meet, to try it alone. Unset: on in "
        "development, off in production.",
    )
    message_chars: int = Field(1000, ge=1, le=4000, description="Longest chat message.")
    messages_per_second: float = Field(5.0, gt=0, description="Chat messages per second.")
    message_burst: int = Field(10, ge=1, description="Chat messages allowed in a burst.")
    skips_per_minute: int = Field(30, ge=1, description="`find` and `skip` per minute.")
    frame_chars: int = Field(8192, ge=256, description="Largest websocket frame decoded.")
    frames_per_second: float = Field(
        20.0, gt=0, description="Websocket frames per second, all kinds, before refusal."
    )
    errors_before_close: int = Field(
        20, ge=1, description="Refused frames in a burst before the socket is closed."
    )
    hello_timeout: float = Field(10.0, gt=0, description="Seconds to wait for `hello`.")
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers, from the "
        "connection or the request's first byte, before it is answered 408 and closed.",
    )
    # --- Admission by proof of work, idle sockets, abuse bans (issue 9, docs/design.md §3) ------
    # Owned by core/admission.py and gateway/chat_socket.py; the policy is explained there.
    pow_bits: int = Field(
        16,
        ge=0,
        le=32,
        description="Proof of work at `hello`: leading zero bits of SHA-256 a new connection "
        "must find (about 2^bits hashes; 16 is a fraction of a second in a browser). 0 turns "
        "it off: for benchmarks only.",
    )
    pow_max_bits: int = Field(
        22,
        ge=0,
        le=32,
        description="The most bits asked however high the load or a network's recent "
        "connections (at least `pow_bits`).",
    )
    pow_expires: float = Field(
        30.0,
        gt=0,
        description="Seconds a challenge stays valid; `hello` is awaited at least that long.",
    )
    pow_load_knee: int = Field(
        2000,
        ge=1,
        description="Chatters online on this node at which one bit is added (one more at "
        "each doubling).",
    )
    pow_network_knee: int = Field(
        20,
        ge=1,
        description="Connections one network opened within `pow_network_window` at which one "
        "bit is added (one more at each doubling).",
    )
    pow_network_window: float = Field(
        600.0, gt=0, description="Seconds a network's connections count towards its bits."
    )
    pow_networks: int = Field(
        100_000,
        ge=1,
        description="Networks remembered for that count (the least recently seen go first).",
    )
    idle_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds a chat socket may send nothing (not even `ping`) before it is "
        "closed with 4000.",
    )
    abuse_ban_minutes: float = Field(
        60.0,
        gt=0,
        description="Length of the temporary ban for persistent abuse of the rate limits.",
    )
    # --- end of issue 9 admission block ----------------------------------------------------
    # --- Rate limits, origins, request size (issue 9; gateway/ratelimits.py, origins.py,
    # request_size.py explain the policy). Limits are `limits` strings, "N/period" or
    # "N/M periods" (second, minute, hour, day), counted per device and per network (the
    # keyed hash of the address). Networks are shared (schools, offices, carrier NAT), so
    # every network limit is looser than its device limit.
    limit_connect_device: str = Field(
        "20/minute",
        pattern=LIMIT_PATTERN,
        description="Chat socket connections of one device (reloads, reconnects).",
    )
    limit_connect_network: str = Field(
        "120/minute", pattern=LIMIT_PATTERN, description="Chat socket connections of one network."
    )
    limit_find_device: str = Field(
        "60/minute", pattern=LIMIT_PATTERN, description="`find` and `skip` of one device."
    )
    limit_find_network: str = Field(
        "600/minute", pattern=LIMIT_PATTERN, description="`find` and `skip` of one network."
    )
    limit_message_device: str = Field(
        "10/second",
        pattern=LIMIT_PATTERN,
        description="Chat messages of one device, all its tabs (counted in each node's memory).",
    )
    limit_message_network: str = Field(
        "100/second",
        pattern=LIMIT_PATTERN,
        description="Chat messages of one network (counted in each node's memory).",
    )
    limit_report_device: str = Field(
        "10/hour", pattern=LIMIT_PATTERN, description="Reports filed by one device."
    )
    limit_report_network: str = Field(
        "60/hour", pattern=LIMIT_PATTERN, description="Reports filed from one network."
    )
    limit_frame_device: str = Field(
        "3/second", pattern=LIMIT_PATTERN, description="Frames posted by one device, all tabs."
    )
    limit_frame_network: str = Field(
        "60/second", pattern=LIMIT_PATTERN, description="Frames posted from one network."
    )
    limit_sign_in_account: str = Field(
        "10/15 minutes",
        pattern=LIMIT_PATTERN,
        description="Console sign-in attempts for one account name (known or not); beyond "
        "it the password is not even checked.",
    )
    limit_sign_in_network: str = Field(
        "30/15 minutes",
        pattern=LIMIT_PATTERN,
        description="Console sign-in attempts from one network, whatever the name.",
    )
    limit_appeal_device: str = Field(
        "5/hour", pattern=LIMIT_PATTERN, description="Appeals sent by one device."
    )
    limit_appeal_network: str = Field(
        "20/hour", pattern=LIMIT_PATTERN, description="Appeals sent from one network."
    )
    limit_standing_device: str = Field(
        "30/minute",
        pattern=LIMIT_PATTERN,
        description="Asks for a device's standing (`GET /v1/standing`) by one device.",
    )
    limit_standing_network: str = Field(
        "300/minute",
        pattern=LIMIT_PATTERN,
        description="Asks for a device's standing from one network, forged tokens included.",
    )
    limit_online_device: str = Field(
        "60/minute",
        pattern=LIMIT_PATTERN,
        description="Asks for the online counts (`GET /v1/online`); it carries no device, "
        "so only the network's limit applies in practice.",
    )
    limit_online_network: str = Field(
        "600/minute",
        pattern=LIMIT_PATTERN,
        description="Asks for the online counts (`GET /v1/online`) from one network.",
    )
    limit_abuse_device: str = Field(
        "30/10 minutes",
        pattern=LIMIT_PATTERN,
        description="Refusals by any limit above before a device counts as abusive and is "
        "banned for `abuse_ban_minutes`.",
    )
    limit_abuse_network: str = Field(
        "300/10 minutes",
        pattern=LIMIT_PATTERN,
        description="Refusals before a network counts as abusive (its devices are not banned "
        "for it: the network is shared).",
    )
    rate_limit_keys: int = Field(
        250_000,
        ge=1000,
        description="Counters one node keeps in memory at most (about 250 bytes each); "
        "expired ones go first, then the oldest.",
    )
    public_origin: str | None = Field(
        None,
        pattern=ORIGIN_PATTERN,
        description="The page's origin, e.g. `https://chat.example.org`: a chat socket "
        "opened by a page of any other origin is refused (403). Unset: the request's own "
        "(its scheme and `Host`).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="More origins allowed to open the chat socket (JSON), e.g. "
        '`["https://www.example.org"]`.',
    )
    max_request_bytes: int = Field(
        262_144,
        ge=65_536,
        description="Largest HTTP request body (413 beyond; the hash list upload of the "
        "console has its own, larger cap).",
    )
    # --- end of issue 9 rate limits block --------------------------------------------------
    send_queue: int = Field(
        256, ge=8, description="Messages queued for one socket before a slow reader is dropped."
    )
    frame_checker: str = Field(
        "builtin",
        description="Frame checks: `builtin` (NudeNet, a face check, PDQ hash lists) or "
        "`package.module:factory` for your own checker.",
    )
    age_estimator: str = Field(
        "builtin",
        description="Facial age estimates on frames of a chatter's own camera (docs/safety.md, "
        "Age from the camera): `builtin` (dlib-models' age model by Cydral, bundled), "
        "`off`, or `package.module:factory` for a contracted provider's adapter (a "
        "no-argument factory of an object with `estimate(image, face)`). Used by the "
        "built-in frame checker.",
    )
    frame_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Check workers (processes, or threads in `thread` mode) that check "
        "frames, about one per core.",
    )
    frame_check_mode: Literal["process", "thread", "remote"] = Field(
        "process",
        description="Where frame checks run: `process`, in `frame_workers` check-worker "
        "processes, each loading the checker once (the chat process loads no model); "
        "`remote`, in a check service on another host (`strangers check-service`, at "
        "`frame_check_service`), over `frame_workers` connections; or `thread`, in "
        "threads of the chat process, for a checker that must share its memory (a "
        "test's recording checker).",
    )
    frame_check_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a check worker (or a check service) may take over one frame "
        "before it is killed and replaced (the connection dropped); the frame counts as "
        "not checked.",
    )
    frame_check_service: str | None = Field(
        None,
        description="The check service of `remote` mode: `tls://host:port` (TLS, its "
        "certificate verified), or `tcp://host:port` on this host or, with "
        "`check_service_plaintext`, on a private link (docs/deploy.md, 'Check services on "
        "their own hosts').",
    )
    check_service_ca: str | None = Field(
        None,
        description="PEM file of the authorities a gateway trusts for a `tls://` check "
        "service's certificate; unset: the system's.",
    )
    check_service_cert: str | None = Field(
        None,
        description="PEM certificate chain `strangers check-service` presents; with "
        "`check_service_key` it listens with TLS.",
    )
    check_service_key: str | None = Field(
        None, description="PEM private key of `check_service_cert`."
    )
    check_service_plaintext: bool = Field(
        False,
        description="Allow a check service link in plain TCP beyond this host (frames cross "
        "the network unencrypted): only for a private link such as a WireGuard tunnel.",
    )
    check_service_secret: SecretStr | None = Field(
        None,
        description="The secret (≥ 32 characters) a gateway and a check service prove to "
        "each other; required in `remote` mode, and by a check service that listens on "
        "an address other than loopback.",
    )
    check_service_host: str = Field(
        "127.0.0.1", description="Address `strangers check-service` listens on."
    )
    check_service_port: int = Field(
        8300, ge=1, le=65535, description="Port `strangers check-service` listens on."
    )
    check_service_workers: int = Field(
        2,
        ge=1,
        le=256,
        description="Check-worker processes a check service runs at most, one per gateway "
        "connection: at least the sum of its gateways' `frame_workers`.",
    )
    frame_queue: int = Field(
        32, ge=1, description="Frames waiting for a check before the least urgent are shed."
    )
    frame_share_session: int = Field(
        2, ge=1, description="Frames of one chatter waiting or in a check at once (fair share)."
    )
    frame_share_device: int = Field(
        4, ge=1, description="Frames of one device, all tabs, waiting or in a check at once."
    )
    frame_share_network: int = Field(
        12, ge=1, description="Frames of one network waiting or in a check at once."
    )
    frame_posts_per_second: float = Field(
        1.5, gt=0, description="Frames one chatter may post for checking, per second."
    )
    frame_post_burst: int = Field(6, ge=1, description="Frames one chatter may post in a burst.")
    nudity_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Score at which an exposed-body class counts as nudity (NudeNet).",
    )
    face_threshold: float = Field(
        0.35, gt=0, le=1, description="Score at which NudeNet's face classes count as a face."
    )
    no_face_blur_checks: int = Field(
        3, ge=1, description="Checks in a row without a face before the viewer's blur."
    )
    no_face_end_checks: int = Field(
        6, ge=1, description="Checks in a row without a face before the match ends."
    )
    own_check_seconds: float = Field(
        12.0,
        gt=0,
        le=60,
        description="How recent a check of a sender's own camera must be for the stranger "
        "to see its video; older, it is blurred as 'video not checked'.",
    )
    flag_viewers: int = Field(
        3,
        ge=2,
        description="Distinct viewers, on distinct networks, whose nudity flags of one "
        "sender's video make a strike (or the teen pool's ban) without a moderator; one "
        "viewer's flag alone only opens a case.",
    )
    flag_window_hours: float = Field(
        24.0, gt=0, description="The window in which those viewers' flags are counted."
    )
    hash_refresh_seconds: float = Field(
        60.0, gt=0, description="How often the known-abuse hash lists are reloaded."
    )
    cybertip_url: str = Field(
        "https://exttest.cybertip.org/ispws",
        description="NCMEC's CyberTipline Reporting API, where escalated cases are reported "
        "(18 U.S.C. 2258A). The default is NCMEC's test environment; production is "
        "`https://report.cybertip.org/ispws`.",
    )
    cybertip_username: str | None = Field(
        None, description="User name NCMEC issued for the CyberTipline Reporting API."
    )
    cybertip_password: SecretStr | None = Field(
        None, description="Password NCMEC issued for the CyberTipline Reporting API."
    )
    cybertip_reporter_name: str | None = Field(
        None,
        description="The person who files CyberTipline reports (the report's reporting person).",
    )
    cybertip_reporter_email: str | None = Field(
        None, description="That person's e-mail address (a report requires it)."
    )
    redis_url: str | None = Field(
        None,
        description="Redis for running several gateways (docs/design.md §5), e.g. "
        "`redis://127.0.0.1:6379/0`. Unset: one process, matching in memory.",
    )
    redis_namespace: str = Field(
        "strangers",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Prefix of every Redis key and channel, so several deployments (or "
        "test runs) can share one Redis.",
    )
    gateway_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="This gateway's name among the nodes. Unset: a random one at each start "
        "(a restarted gateway is a new one; its old sessions are gone).",
    )
    backlog: int = Field(4096, ge=64, description="Listen backlog for bursts of connections.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Log lines as JSON (one object a line, with request and session ids), "
        "as text, or auto: text on a terminal, JSON otherwise.",
    )

    @model_validator(mode="after")
    def _remote_checks(self) -> Settings:
        """``remote`` mode names its check service and has the secret to prove."""
        if self.frame_check_mode == "remote":
            if self.frame_check_service is None:
                raise ValueError("frame_check_mode=remote needs STRANGERS_FRAME_CHECK_SERVICE")
            if self.check_service_secret is None:
                raise ValueError("frame_check_mode=remote needs STRANGERS_CHECK_SERVICE_SECRET")
        if self.frame_check_service is not None:
            address = ServiceAddress.parse(self.frame_check_service)
            if address.in_the_clear and not self.check_service_plaintext:
                raise ValueError(
                    "STRANGERS_FRAME_CHECK_SERVICE is plain TCP to another host: frames "
                    "would cross the network unencrypted; use tls://, or set "
                    "STRANGERS_CHECK_SERVICE_PLAINTEXT=true for a private link"
                )
        if (self.check_service_cert is None) != (self.check_service_key is None):
            raise ValueError(
                "STRANGERS_CHECK_SERVICE_CERT and STRANGERS_CHECK_SERVICE_KEY go together"
            )
        if self.check_service_secret is not None:
            secret_key(self.check_service_secret.get_secret_value().encode())
        return self

    def check_secret(self) -> bytes:
        """The check service's shared secret; ``ValueError`` when it is unset."""
        if self.check_service_secret is None:
            raise ValueError("STRANGERS_CHECK_SERVICE_SECRET is not set")
        return self.check_service_secret.get_secret_value().encode()

    def face_age_rules(self) -> FaceAgeRules:
        """The challenge-age policy these settings describe (core/face_age.py)."""
        return FaceAgeRules(
            challenge_age=self.face_age_challenge,
            clearly_adult=self.face_age_clearly_adult,
            checks=self.face_age_checks,
        )

    def limits(self) -> Limits:
        return Limits(
            frame_chars=self.frame_chars,
            message_chars=self.message_chars,
            messages_per_second=self.messages_per_second,
            message_burst=self.message_burst,
            skips_per_minute=self.skips_per_minute,
            frame_posts_per_second=self.frame_posts_per_second,
            frame_post_burst=self.frame_post_burst,
            no_face_blur=self.no_face_blur_checks,
            no_face_end=self.no_face_end_checks,
            own_check_seconds=self.own_check_seconds,
            flag_viewers=self.flag_viewers,
            flag_window_seconds=self.flag_window_hours * 3600.0,
        )

    def match_rules(self) -> MatchRules:
        return MatchRules(
            interest_timeout=self.interest_timeout,
            language_timeout=self.language_timeout,
            repair_cooldown=self.repair_cooldown,
            quiet_after=self.quiet_after,
            same_device=self.pairs_same_device(),
        )

    def pairs_same_device(self) -> bool:
        if self.same_device_pairs is not None:
            return self.same_device_pairs
        return self.env == "development"

    def turn_configured(self) -> bool:
        return bool(self.turn_urls) and self.turn_secret is not None

    def records_url(self) -> str:
        return records_settings.records_url(self)

    def evidence_secret(self) -> bytes:
        """The evidence key (``moderation/settings.py``, ``evidence_secret``)."""
        return records_settings.evidence_secret(self)

    def subkey(self, purpose: str) -> bytes:
        """A key for one purpose, derived from the server secret (HMAC-SHA256 as a
        KDF, RFC 5869's extract step), so device tokens and network hashes never
        share a key."""
        return hmac.new(self.secret(), b"strangers/" + purpose.encode(), hashlib.sha256).digest()

    def secret(self) -> bytes:
        """The server secret: from settings, or generated once into the data
        directory with mode 0600 (OWASP ASVS 5.0 V13.3: secrets not in code)."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value().encode()
            if len(value) < 32:
                raise ValueError("STRANGERS_SECRET_KEY must be at least 32 characters")
            return value
        if self.env == "production":
            raise ValueError("STRANGERS_SECRET_KEY is required when STRANGERS_ENV=production")
        path = self.data_dir / "secret.key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        return path.read_bytes().strip()


def settings_markdown() -> str:
    """The README's settings table, generated from :class:`Settings`."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True, validated_data={})
        shown = "(generated)" if name in ("secret_key", "evidence_key") else f"`{default}`"
        rows.append(f"| `STRANGERS_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows) + "\n"
