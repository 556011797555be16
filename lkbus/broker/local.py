"""Start, stop and inspect the local broker: one `java kafka.Kafka` process per data folder."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from lkbus.broker.runtime import ensure_jars, find_java
from lkbus.errors import BrokerError, BrokerExitedError, PortInUseError
from lkbus.settings import BrokerSettings, KafkaSettings

if TYPE_CHECKING:
    from lkbus.broker.security import TlsFiles

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What `lkbus broker status` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    log_file: Path
    secure_bootstrap: str | None = None
    """The SASL_SSL listener's address, when there is one."""
    ca_file: Path | None = None
    """The CA clients of the secure listener trust (LKBUS_KAFKA__SSL_CAFILE)."""


class LocalBroker:
    """A single-node Apache Kafka broker in KRaft mode, listening on `host:port`.

    The process is found again through its pid file, so `stop` works from another process.
    """

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.pid_file = self.data_dir / "broker.pid"
        self.log_file = self.data_dir / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def secure_bootstrap(self) -> str | None:
        """The SASL_SSL listener's address, or None when it is off."""
        port = self.settings.secure_port
        return None if port is None else f"{self.settings.host}:{port}"

    @property
    def tls_dir(self) -> Path:
        """Where the secure listener's CA and certificate live."""
        return (self.settings.tls_dir or self.settings.data_dir / "tls").resolve()

    def secure_client(self, user: str, **overrides: Any) -> KafkaSettings:
        """Client settings for `user` on the secure listener (its password from `scram_users`)."""
        if self.secure_bootstrap is None:
            raise BrokerError("the broker has no secure listener: set LKBUS_BROKER__SECURE_PORT")
        password = self.settings.scram_users.get(user)
        options: dict[str, Any] = {
            "bootstrap_servers": self.secure_bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": user,
            "sasl_password": password,
            "ssl_cafile": self.tls_dir / "ca.pem",
            **overrides,
        }
        return KafkaSettings(**options)

    @property
    def _marker(self) -> str:
        return f"-Dlkbus.broker.dir={self.data_dir}"

    def status(self) -> BrokerStatus:
        """Whether this folder's broker is running, and where it lives."""
        pid = self._running_pid()
        secure = self.secure_bootstrap
        return BrokerStatus(
            pid is not None,
            pid,
            self.bootstrap,
            self.data_dir,
            self.log_file,
            secure,
            self.tls_dir / "ca.pem" if secure else None,
        )

    async def start(self) -> BrokerStatus:
        """Start the broker (formatting its storage on first use) and wait until it answers.

        Harmless when this folder's broker is already running.
        """
        if self._running_pid() is not None:
            await self._wait_ready(process=None)
            return self.status()
        self.pid_file.unlink(missing_ok=True)
        for port in (self.settings.port, self.settings.controller_port, self.settings.secure_port):
            if port is not None:
                _require_free_port(self.settings.host, port)
        java = find_java()
        jars = ensure_jars(self.settings.jars_dir.resolve())
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tls = None
        if self.settings.secure_port is not None:
            # cryptography is needed only for the secure listener.
            from lkbus.broker.security import ensure_tls

            tls = ensure_tls(self.tls_dir, [self.settings.host])
        config = self._write_config(tls)
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.log_file))
        base = [java, "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{jars}/*"]
        if not (self.data_dir / "kraft" / "meta.properties").exists():
            self._format(base, config)
        else:
            self._check_users_unchanged()
        server = [
            java,
            f"-Xmx{self.settings.heap}",
            f"-Xms{self.settings.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            *base[1:],
            self._marker,
            "kafka.Kafka",
            str(config),
        ]
        process = self._launch(server)
        self.pid_file.write_text(str(process.pid))
        try:
            await self._wait_ready(process)
        except BaseException:
            self.stop()
            raise
        return self.status()

    def _launch(self, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.data_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self._process

    def stop(self, timeout_s: float = 30) -> bool:
        """Stop this folder's broker (SIGTERM, then SIGKILL after `timeout_s`) and wait for it.

        Returns whether a running broker was stopped.
        """
        pid = self._running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self._reap()
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the broker's log, then of its console (where JVM errors go)."""
        text = []
        for path in (self.log_file, self.data_dir / "console.log"):
            if path.exists():
                text.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(text[-lines:])

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_alive(pid) and self._marker in _cmdline(pid) else None

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                return False
            self._process = None
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _is_alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None

    def _write_config(self, tls: TlsFiles | None) -> Path:
        s = self.settings
        config = self.data_dir / "server.properties"
        plain = f"PLAINTEXT://{s.host}:{s.port}"
        secure = f",SASL_SSL://{s.host}:{s.secure_port}" if tls is not None else ""
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{s.host}:{s.controller_port}",
                    f"listeners={plain}{secure},CONTROLLER://{s.host}:{s.controller_port}",
                    f"advertised.listeners={plain}{secure}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
                    + (",SASL_SSL:SASL_SSL" if tls is not None else ""),
                    "inter.broker.listener.name=PLAINTEXT",
                    *self._security_config(tls),
                    f"log.dirs={self.data_dir / 'kraft'}",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=12",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "group.consumer.min.session.timeout.ms=1000",
                    "group.min.session.timeout.ms=1000",
                    "",
                ]
            )
        )
        return config

    def _security_config(self, tls: TlsFiles | None) -> list[str]:
        """The secure listener's lines of server.properties (none without one).

        The PLAINTEXT listeners (clients on `port`, the controller, inter-broker) stay trusted:
        their principal, User:ANONYMOUS, is a super user, as the KRaft controller needs.
        """
        s = self.settings
        if tls is None:
            return []
        lines = [
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls.keystore}",
            "ssl.client.auth=none",
        ]
        if s.acl_enabled:
            lines += [
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                f"super.users=User:{s.super_user};User:ANONYMOUS",
                "allow.everyone.if.no.acl.found=false",
            ]
        return lines

    def _scram_arguments(self) -> list[str]:
        args: list[str] = []
        if self.settings.secure_port is None:
            return args
        for name, password in sorted(self.settings.scram_users.items()):
            secret = password.get_secret_value()
            args += ["--add-scram", f'SCRAM-SHA-512=[name={name},password="{secret}"]']
        return args

    def _users_fingerprint(self, salt: str) -> str:
        """A salted hash of the SCRAM users, to notice that they changed after formatting."""
        users = self.settings.scram_users if self.settings.secure_port is not None else {}
        digest = hashlib.sha256(salt.encode() + b"\0")
        for name, password in sorted(users.items()):
            digest.update(f"{name}\0{password.get_secret_value()}\0".encode())
        return f"{salt}:{digest.hexdigest()}"

    def _check_users_unchanged(self) -> None:
        if self.settings.secure_port is None:
            return
        recorded = self.data_dir / "scram-users.sha256"
        try:
            text = recorded.read_text().strip()
        except OSError:
            text = ""
        salt, _, _ = text.partition(":")
        if text == self._users_fingerprint(salt):
            return
        raise BrokerError(
            f"the SCRAM users (LKBUS_BROKER__SCRAM_USERS) changed since the storage in {self.data_dir} "
            "was formatted, and they are set only then; restore them, or delete that folder to start afresh"
        )

    def _format(self, base: list[str], config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `=` keeps an id that starts with "-" (base64url may) from reading as an option.
        command = [
            *base,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(config),
        ]
        result = subprocess.run(
            [*command, *self._scram_arguments()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode == 0:
            fingerprint = self.data_dir / "scram-users.sha256"
            fd = os.open(fingerprint, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self._users_fingerprint(secrets.token_hex(16)) + "\n")
        else:
            output = result.stdout + result.stderr
            for password in self.settings.scram_users.values():
                output = output.replace(password.get_secret_value(), "**********")
            tail = " | ".join(output.strip().splitlines()[-3:])
            raise BrokerError(
                f"formatting the broker storage in {self.data_dir} failed ({tail}); "
                "delete that folder to start afresh"
            )

    async def _wait_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        while True:
            if process is not None and process.poll() is not None:
                raise BrokerExitedError(
                    f"the broker exited with code {process.returncode} while starting; "
                    f"its log ({self.log_file}) ends with:\n{self.log_tail(15)}"
                )
            if await _answers_metadata(self.bootstrap):
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"the broker did not answer on {self.bootstrap} within "
                    f"{self.settings.start_timeout_s:.0f} s; raise LKBUS_BROKER__START_TIMEOUT_S "
                    f"or read {self.log_file}"
                )
            await asyncio.sleep(0.25)


async def _answers_metadata(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    if not await asyncio.to_thread(_listening, host, int(port)):
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


def _listening(host: str, port: int, timeout_s: float = 2) -> bool:
    """Whether something accepts connections on the port. A blocking socket closed on the spot: an
    asyncio connection given up at its timeout just as it opened would leave its socket behind."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host} is taken by another process; stop it, or choose free ports "
                "with LKBUS_BROKER__PORT, LKBUS_BROKER__CONTROLLER_PORT (and LKBUS_BROKER__SECURE_PORT)"
            ) from None


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
