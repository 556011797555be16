"""One settings class for every process, read from `LKBUS_*` environment variables.

Nested fields use `__`: `LKBUS_KAFKA__BOOTSTRAP_SERVERS`, `LKBUS_TOPICS__PREFIX`, ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as EnvParseError

from lkbus.errors import SettingsError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """How clients reach Kafka."""

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    client_id: str = Field(default="lkbus", description="Client id reported to the brokers.")
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL protocols only)."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signs the brokers' certificates."
    )
    ssl_certfile: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    ssl_keyfile: Path | None = Field(default=None, description="Client private key (mutual TLS).")
    ssl_keyfile_password: SecretStr | None = Field(
        default=None, description="Password of the client key (secret)."
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("must name at least one host:port")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port (e.g. 127.0.0.1:9092)")
        return ",".join(servers)


class TopicSettings(_Section):
    """Names and shapes of the project's topics; every name gets `prefix` in front."""

    prefix: str = Field(default="", description="Prepended to every topic name, e.g. 'prod.'.")
    session_events: str = Field(
        default="lk.session.events", description="AgentSession events, lifecycle and command outcomes."
    )
    user_state: str = Field(default="lk.user.state", description="user_state_changed events.")
    room_events: str = Field(default="lk.room.events", description="rtc Room events.")
    commands: str = Field(default="lk.agent.commands", description="Commands back to the agents.")
    analytics_sessions: str = Field(
        default="lk.analytics.sessions", description="Per-session analytics summaries."
    )
    deadletter: str = Field(default="lk.deadletter", description="Records no consumer could process.")
    partitions: int = Field(default=6, ge=1, le=10_000, description="Partitions of each event topic.")
    replication_factor: int = Field(default=1, ge=1, le=32, description="Replicas of each topic.")
    retention_days: float = Field(default=7, gt=0, description="Retention of the event topics.")
    deadletter_retention_days: float = Field(
        default=30, gt=0, description="Retention of the dead-letter topic."
    )
    commands_retention_hours: float = Field(default=24, gt=0, description="Retention of the commands topic.")

    def name(self, base: str) -> str:
        """The full name of a topic: the prefix, then its base name."""
        return f"{self.prefix}{base}"

    @property
    def event_topics(self) -> tuple[str, str, str]:
        """The three topics that carry events from the agents."""
        return (self.name(self.session_events), self.name(self.user_state), self.name(self.room_events))


class BrokerSettings(_Section):
    """The local single-node Apache Kafka broker (`lkbus broker ...`)."""

    host: str = Field(default="127.0.0.1", description="Address the local broker listens on.")
    port: int = Field(default=9092, ge=1, le=65535, description="Client port of the local broker.")
    controller_port: int = Field(default=9093, ge=1, le=65535, description="KRaft controller port.")
    data_dir: Path = Field(
        default=Path(".lkbus/broker"), description="Logs, pid file and data of the local broker."
    )
    jars_dir: Path = Field(
        default=Path(".lkbus/kafka-jars"), description="Cache of the broker's jars, resolved by Maven."
    )
    heap: str = Field(
        default="512m", pattern=r"^\d+[mMgG]$", description="JVM heap of the broker (e.g. 512m, 1g)."
    )
    start_timeout_s: float = Field(
        default=90, gt=0, description="How long `start` waits for the broker to answer."
    )
    secure_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of a SASL_SSL listener (SCRAM-SHA-512, TLS) beside the plain one; off when unset.",
    )
    tls_dir: Path | None = Field(
        default=None,
        description="CA (ca.pem: give it to clients) and broker certificate, made on first use; "
        "default <data_dir>/tls.",
    )
    scram_users: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='SCRAM-SHA-512 users made when the storage is first formatted, JSON: {"admin": "..."} '
        "(secret).",
    )
    super_user: str = Field(
        default="admin", description="The SCRAM user allowed everything (super.users); one of scram_users."
    )
    acl_enabled: bool = Field(
        default=False,
        description="Check ACLs on the secure listener (no ACL: refused); the plain listener stays trusted.",
    )

    @model_validator(mode="after")
    def _check_secure_listener(self) -> BrokerSettings:
        for name, password in self.scram_users.items():
            if not name or not all(c.isalnum() or c in "._-@" for c in name):
                raise ValueError(f"SCRAM user name {name!r} may hold only letters, digits and . _ - @")
            secret = password.get_secret_value()
            if not secret or any(c in secret for c in '"\\,[]=') or not secret.isprintable():
                raise ValueError(
                    f'the password of SCRAM user {name!r} is empty or holds one of " \\ , [ ] = '
                    "or a non-printable character"
                )
        if self.secure_port is None:
            if self.acl_enabled:
                raise ValueError("acl_enabled needs a secure listener: set LKBUS_BROKER__SECURE_PORT")
            return self
        if self.secure_port in (self.port, self.controller_port):
            raise ValueError("secure_port must differ from port and controller_port")
        if self.super_user not in self.scram_users:
            raise ValueError(
                f"the secure listener needs its super user {self.super_user!r} in LKBUS_BROKER__SCRAM_USERS"
            )
        return self


RedactionMode = Literal["keep", "hash", "drop"]
Compression = Literal["none", "gzip", "lz4", "zstd", "snappy"]


class PublisherSettings(_Section):
    """The agent-side publisher (`producers/`)."""

    buffer_max_events: int = Field(
        default=20_000, ge=1, description="Events held in memory before spilling to the journal."
    )
    journal_dir: Path = Field(
        default=Path(".lkbus/journal"), description="Where events spill while Kafka is away."
    )
    journal_max_bytes: int = Field(
        default=1 << 30, ge=1 << 16, description="Disk budget of the journal; beyond it events are dropped."
    )
    journal_segment_bytes: int = Field(
        default=16 << 20, ge=1 << 12, description="Size at which a journal segment file is rolled."
    )
    redact_text: RedactionMode = Field(
        default="keep",
        description=(
            "Transcript and message text, tool call arguments, outputs and progress messages: keep, "
            "hash (keyed HMAC) or drop. Either of the last two also drops SIP DTMF keys."
        ),
    )
    redact_hash_key: SecretStr | None = Field(
        default=None, description="Key of the HMAC used by redact_text=hash (secret)."
    )
    include_data_bytes: bool = Field(
        default=False, description="Carry the raw bytes of data_received packets (base64)."
    )
    compression: Compression = Field(default="lz4", description="Kafka batch compression.")
    linger_ms: int = Field(default=5, ge=0, le=10_000, description="Wait for more events before a batch.")
    max_batch_bytes: int = Field(default=131_072, ge=1024, description="Largest Kafka batch per partition.")
    send_timeout_s: float = Field(
        default=10, gt=0, description="A batch not acknowledged within this time counts as Kafka away."
    )
    flush_timeout_s: float = Field(
        default=10, gt=0, description="How long closing waits for delivery before journaling the rest."
    )
    in_flight_retry_s: float = Field(
        default=10,
        gt=0,
        description=(
            "How long a batch sent but not acknowledged (Kafka went away) is retried by the same "
            "idempotent producer, exactly once, before it is resent from the journal (at least once). "
            "Longer covers longer outages."
        ),
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve Prometheus metrics on this port (off when unset)."
    )
    client_log_interval_s: float = Field(
        default=60,
        ge=0,
        description=(
            "The Kafka client's warnings and errors from the publisher's thread: each kind once per "
            "this interval (an outage repeats them tens of times a second); 0 lets every one through."
        ),
    )

    commands: bool = Field(
        default=True, description="Listen for commands (prompt, say, close) to hosted sessions."
    )

    @model_validator(mode="after")
    def _hash_needs_key(self) -> PublisherSettings:
        if self.redact_text == "hash" and self.redact_hash_key is None:
            raise ValueError("redact_text=hash needs LKBUS_PUBLISHER__REDACT_HASH_KEY")
        return self


class ConsumerSettings(_Section):
    """The consumer services (`lkbus consume NAME`)."""

    group_prefix: str = Field(default="lkbus.", description="Consumer group of NAME is <prefix>NAME.")
    max_batch: int = Field(default=500, ge=1, le=100_000, description="Records handled per batch.")
    fetch_max_wait_ms: int = Field(default=100, ge=0, le=10_000, description="Longest wait of a fetch.")
    session_timeout_ms: int = Field(default=10_000, ge=1000, description="Group session timeout.")
    retry_attempts: int = Field(default=3, ge=0, le=100, description="Retries of a retriable failure.")
    retry_backoff_s: float = Field(default=0.2, ge=0, description="First retry delay (doubles each time).")
    graceful_timeout_s: float = Field(
        default=15, gt=0, description="How long SIGTERM waits for in-flight work."
    )
    health_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve /healthz, /readyz and /metrics on this port."
    )
    client_log_interval_s: float = Field(
        default=60,
        ge=0,
        description=(
            "The Kafka client's warnings and errors: each kind once per this interval (an outage "
            "repeats them tens of times a second); 0 lets every one through."
        ),
    )


class InactivitySettings(_Section):
    """The inactivity consumer: prompts for users who went away, then closes the session."""

    prompt_interval_s: float = Field(default=10, gt=0, description="Time between prompts while away.")
    max_prompts: int = Field(default=3, ge=0, le=100, description="Prompts before the session is closed.")
    prompt_instructions: str = Field(
        default="The user has been inactive. Politely check if the user is still present.",
        min_length=1,
        description="Instructions given to generate_reply.",
    )
    close_reason: str = Field(default="user inactive", description="Reason attached to close_session.")
    command_ttl_s: float = Field(
        default=30, gt=0, description="A command not run within this time is dropped."
    )
    tick_s: float = Field(default=0.25, gt=0, description="How often due prompts are looked for.")
    per_agent: dict[str, dict[str, float | int | str]] = Field(
        default_factory=dict,
        description='Overrides per agent name, JSON: {"sales": {"max_prompts": 1}}.',
    )


class AnalyticsSettings(_Section):
    """The analytics consumer: per-session summaries and per-minute rollups."""

    db_path: Path = Field(
        default=Path(".lkbus/analytics.duckdb"), description="The DuckDB file of the store."
    )
    idle_timeout_s: float = Field(
        default=300, gt=0, description="A session with no event for this long is summarised as idle."
    )
    end_grace_s: float = Field(
        default=5, ge=0, description="After a session ended, how long to wait for its stragglers."
    )
    window_s: int = Field(default=60, ge=1, le=86_400, description="Rollup window length.")
    allowed_lateness_s: float = Field(default=30, ge=0, description="Event-time lateness a window accepts.")


TextList = Annotated[tuple[str, ...], NoDecode]
"""A list setting: not JSON-decoded by pydantic-settings, so that `a,b` works too."""


def _split_list(value: Any) -> Any:
    """`a,b` or `["a","b"]` from the environment; lists pass through."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class _ForwarderSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topics: TextList = Field(
        default=(),
        description="Base names of the topics to read (prefix applied); default: the three event topics.",
    )
    types: TextList = Field(
        default=(), description="Type globs to forward (`livekit.agent.close`, `close`, `livekit.room.*`)."
    )
    agents: TextList = Field(default=(), description="Agent-name globs to forward.")
    filter: str | None = Field(
        default=None,
        max_length=2000,
        description='Filter expression, e.g. `type == "livekit.agent.close" and agent_name in ["sales"]`.',
    )

    @field_validator("topics", "types", "agents", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("filter")
    @classmethod
    def _check_filter(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Imported here so that these classes can move into lkbus.settings without an import cycle.
        from consumers.forwarders.expression import compile_filter

        compile_filter(value)  # FilterError is a ValueError: pydantic reports it on this field
        return value


class HttpForwarderSettings(_ForwarderSection):
    """The HTTP forwarder (`lkbus consume http-forwarder`): selected events as signed CloudEvents."""

    url: str | None = Field(default=None, description="Endpoint that receives the events (http or https).")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of the X-Lkbus-Signature HMAC (secret; at least 16 characters).",
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Extra request headers, JSON: {"Authorization": "Bearer ..."} (secret).',
    )
    timeout_s: float = Field(default=10, gt=0, le=300, description="Timeout of one request.")
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Attempts per event before the runtime takes over (it retries, then dead-letters).",
    )
    backoff_s: float = Field(
        default=0.5, ge=0, description="First delay between attempts (doubles each time)."
    )
    max_backoff_s: float = Field(
        default=10, ge=0, description="Longest delay between attempts (also caps Retry-After)."
    )
    concurrency: int = Field(
        default=8, ge=1, le=256, description="Sessions delivered in parallel (each session stays in order)."
    )
    verify_tls: bool = Field(default=True, description="Check the endpoint's TLS certificate.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class KafkaForwarderSettings(_ForwarderSection):
    """The Kafka forwarder (`lkbus consume kafka-forwarder`): selected events to another topic or cluster."""

    topic: str | None = Field(default=None, description="Target topic (full name, no prefix added).")
    target: KafkaSettings | None = Field(
        default=None,
        description="Target cluster (LKBUS_FORWARD_KAFKA__TARGET__*); default: the source cluster.",
    )
    transform: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="`module:function` taking an Event, returning a JSON object (dict) or None to drop it.",
    )
    fields: TextList = Field(
        default=(), description="Project each event onto these fields (`type,session_id,seq,data.reason`)."
    )
    compression: Compression = Field(default="lz4", description="Batch compression towards the target.")
    linger_ms: int = Field(default=5, ge=0, le=10_000, description="Wait for more records before a batch.")

    @field_validator("fields", mode="before")
    @classmethod
    def _field_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from consumers.forwarders.fields import check_path

        for path in value:
            check_path(path)
        return value

    @model_validator(mode="after")
    def _one_transform(self) -> KafkaForwarderSettings:
        if self.transform and self.fields:
            raise ValueError("set either transform or fields, not both")
        return self


ArchiveFormat = Literal["jsonl", "parquet"]


class ArchivalSettings(_Section):
    """The archival consumer: every record of the event topics into files under a root."""

    root: str = Field(
        default=".lkbus/archive",
        min_length=1,
        description="Folder or fsspec URL (s3://, gs://, az:// with s3fs, gcsfs or adlfs installed).",
    )
    format: ArchiveFormat = Field(
        default="jsonl", description="jsonl (JSON Lines, zstd-compressed) or parquet (zstd)."
    )
    topics: tuple[str, ...] = Field(
        default=(), description="Topics to archive, full names (default: the three event topics)."
    )
    max_records: int = Field(default=100_000, ge=1, description="Records per file before it is rolled.")
    max_bytes: int = Field(
        default=64 << 20,
        ge=1024,
        description="Bytes of records (before compression) per file before it rolls.",
    )
    max_age_s: float = Field(default=600, gt=0, description="Age at which an open file is rolled.")
    zstd_level: int = Field(default=3, ge=1, le=22, description="zstd compression level.")
    retention_days: float | None = Field(
        default=None, gt=0, description="Delete archive hours older than this many days (off when unset)."
    )
    retention_check_s: float = Field(default=3600, gt=0, description="Time between two retention passes.")
    staging_dir: Path | None = Field(
        default=None,
        description="Where open files are written (default: <root>/.lkbus-staging, or .lkbus/archive-staging "
        "for object storage).",
    )
    tick_s: float = Field(default=1.0, gt=0, description="How often open files are checked for age.")


class Settings(BaseSettings):
    """Every setting of livekit-eventbus. Environment: `LKBUS_<SECTION>__<FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix="LKBUS_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    broker: BrokerSettings = BrokerSettings()
    publisher: PublisherSettings = PublisherSettings()
    consumer: ConsumerSettings = ConsumerSettings()
    inactivity: InactivitySettings = InactivitySettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    archival: ArchivalSettings = ArchivalSettings()
    forward_http: HttpForwarderSettings = HttpForwarderSettings()
    forward_kafka: KafkaForwarderSettings = KafkaForwarderSettings()


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment; a bad value raises one `SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except EnvParseError as exc:  # a variable that should hold JSON does not
        raise SettingsError(f"invalid settings: {exc} (fix the variable or unset it)") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad setting by its environment variable and saying why."""
    problems = []
    for error in exc.errors():
        path = [str(p) for p in error["loc"]]
        env = "LKBUS_" + "__".join(p.upper() for p in path)
        problems.append(f"{env}: {error['msg']}")
    return "invalid settings: " + "; ".join(problems) + " (fix the variable or unset it to use the default)"


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as '**********'."""
    return settings.model_dump(mode="json")
