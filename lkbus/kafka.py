"""aiokafka client options built from the settings, shared by producers, consumers and the CLI.

Also the one place where Kafka's security failures (a wrong password, an untrusted certificate,
a missing ACL) become one clear line: `explain_kafka_error` and `explain_connection_failure`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
    for_code,
)
from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from lkbus.errors import KafkaUnavailableError, LkbusError, SettingsError
from lkbus.settings import KafkaSettings

_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


class KafkaAuthenticationError(LkbusError):
    """The brokers refused the SASL user name or password."""


class KafkaTlsError(LkbusError):
    """The TLS handshake with a broker failed (e.g. its certificate is not trusted)."""


class KafkaAuthorizationError(LkbusError):
    """The brokers refused an operation for want of an ACL."""


LOOKUP_RETRY_BACKOFF_MS = 20
"""`retry_backoff_ms` for consumers that look offsets up as soon as they start (replay, counts):
the first lookup finds no metadata for its topics and asks again after this pause (aiokafka's
default, 100 ms, is most of a short read's start)."""


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security options accepted by every aiokafka client."""
    redact_client_logs()
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        if not kafka.sasl_username or kafka.sasl_password is None:
            raise SettingsError(
                f"security protocol {kafka.security_protocol} needs a user: set LKBUS_KAFKA__SASL_USERNAME "
                "and LKBUS_KAFKA__SASL_PASSWORD"
            )
        options["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(kafka)
    return options


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
            password=kafka.ssl_keyfile_password.get_secret_value() if kafka.ssl_keyfile_password else None,
        )
    except (OSError, ValueError) as exc:
        files = ", ".join(
            f"{name}={path}"
            for name, path in (
                ("LKBUS_KAFKA__SSL_CAFILE", kafka.ssl_cafile),
                ("LKBUS_KAFKA__SSL_CERTFILE", kafka.ssl_certfile),
                ("LKBUS_KAFKA__SSL_KEYFILE", kafka.ssl_keyfile),
            )
            if path is not None
        )
        reason = _scrub(getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__, kafka)
        raise SettingsError(
            f"cannot load the TLS files ({files or 'system CAs'}): {reason}; "
            "point those variables at readable PEM files"
        ) from None
    return context


def faststream_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """The same connection security, in the form FastStream's KafkaBroker takes."""
    redact_client_logs()
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = kafka.sasl_username or ""
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    use_ssl = protocol == "SASL_SSL"
    mechanism = kafka.sasl_mechanism or "PLAIN"
    if mechanism == "SCRAM-SHA-512":
        return SASLScram512(username, password, ssl_context=context, use_ssl=use_ssl)
    if mechanism == "SCRAM-SHA-256":
        return SASLScram256(username, password, ssl_context=context, use_ssl=use_ssl)
    return SASLPlaintext(username, password, ssl_context=context, use_ssl=use_ssl)


# --- logs ---------------------------------------------------------------------------------------


class _RedactRecordContent(logging.Filter):
    """aiokafka logs, at DEBUG, each record it sends (key and value: transcripts, identities) and
    every request and response on the wire (records, and the SASL PLAIN password). Keep the log
    line, drop the content: sizes and request types only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if record.msg == _SENDING and len(args) == 3:
            record.args = (_size(args[0]), _size(args[1]), args[2])
        elif record.msg in _WIRE and len(args) == 4:
            record.args = (*args[:3], f"{args[3].__class__.__name__}(...)")
        return True


_SENDING = "Sending (key=%s value=%s) to %s"
_WIRE = ("Request to %s:%d %d: %s", "Response from %s:%d %d: %s")
_REDACTOR = _RedactRecordContent()


def _size(value: object) -> str:
    return f"<{len(value)} bytes>" if isinstance(value, bytes | bytearray) else "<redacted>"


def redact_client_logs() -> None:
    """Keep record content and credentials out of aiokafka's DEBUG log lines (idempotent)."""
    for name in ("aiokafka.producer.producer", "aiokafka.conn"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


# --- errors ------------------------------------------------------------------------------------


def principal(kafka: KafkaSettings) -> str:
    """The principal the brokers see for these settings (what an ACL must name)."""
    if kafka.security_protocol.startswith("SASL") and kafka.sasl_username:
        return f"User:{kafka.sasl_username}"
    if kafka.security_protocol == "SSL" and kafka.ssl_certfile:
        return f"User:<the subject of {kafka.ssl_certfile.name}>"
    return "User:ANONYMOUS"


def explain_kafka_error(
    exc: BaseException,
    kafka: KafkaSettings,
    *,
    operation: str | None = None,
    topic: str | None = None,
    group: str | None = None,
) -> LkbusError:
    """One line saying what went wrong with Kafka and what to do, never holding a secret.

    `operation` ("read", "write", "create", "describe", ...) and `topic` / `group` name what was
    attempted, for authorization failures.
    """
    return _explain(exc, kafka, operation, topic, group)


def explain_error_code(
    code: int, kafka: KafkaSettings, *, operation: str | None = None, topic: str | None = None
) -> LkbusError:
    """`explain_kafka_error` for an error code found in a response (e.g. per topic of CreateTopics)."""
    error_type = for_code(code)
    return _explain(error_type(topic) if topic else error_type(), kafka, operation, topic, None)


async def connection_problem(kafka: KafkaSettings, timeout_s: float = 10) -> BaseException | None:
    """Connect to each bootstrap server as the clients would (TLS, SASL); None when one accepts,
    else the first failure that says most (authentication or TLS before unreachable)."""
    try:
        options = client_options(kafka)
    except LkbusError as exc:
        return exc
    failures: list[BaseException] = []
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    client_id=kafka.client_id,
                    request_timeout_ms=int(timeout_s * 1000),
                    ssl_context=options.get("ssl_context"),
                    security_protocol=options["security_protocol"],
                    sasl_mechanism=options.get("sasl_mechanism"),
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                ),
                timeout_s,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            failures.append(exc)
            continue
        conn.close()
        await _let_transports_close()
        return None
    await _let_transports_close()
    return next((f for f in failures if _is_security_error(f)), failures[0] if failures else None)


async def _let_transports_close() -> None:
    """A closed connection's socket is released on the loop's next turn: give it that turn, so a
    caller that returns and ends its loop leaves no socket open."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def explain_connection_failure(exc: BaseException, kafka: KafkaSettings) -> LkbusError:
    """`explain_kafka_error` for a client that failed to start or bootstrap.

    aiokafka's bootstrap hides why it failed (`KafkaConnectionError: Unable to bootstrap`), so
    this connects once more to find the cause (a refused password, an untrusted certificate).
    """
    if isinstance(exc, LkbusError):
        return exc
    if isinstance(exc, KafkaConnectionError | OSError | TimeoutError) and not _is_security_error(exc):
        exc = await connection_problem(kafka) or exc
    return _explain(exc, kafka, None, None, None)


def _is_security_error(exc: BaseException) -> bool:
    return isinstance(
        exc,
        ssl.SSLError
        | SaslAuthenticationFailed
        | IllegalSaslStateError
        | UnsupportedSaslMechanismError
        | LkbusError,
    )


def _explain(
    exc: BaseException,
    kafka: KafkaSettings,
    operation: str | None,
    topic: str | None,
    group: str | None,
) -> LkbusError:
    where = kafka.bootstrap_servers
    who = principal(kafka)
    if isinstance(exc, LkbusError):
        return exc
    if isinstance(exc, SaslAuthenticationFailed | IllegalSaslStateError):
        return KafkaAuthenticationError(
            f"authentication failed for user {kafka.sasl_username} at {where} "
            f"(SASL {kafka.sasl_mechanism or 'PLAIN'}): check LKBUS_KAFKA__SASL_USERNAME/PASSWORD"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return KafkaAuthenticationError(
            f"the brokers at {where} do not offer SASL {kafka.sasl_mechanism or 'PLAIN'}: "
            "set LKBUS_KAFKA__SASL_MECHANISM to one they enable"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return KafkaTlsError(
                f"TLS: the broker's certificate at {where} does not name that host ({reason}): "
                "connect by a name the certificate holds (LKBUS_KAFKA__BOOTSTRAP_SERVERS)"
            )
        return KafkaTlsError(
            f"TLS: the broker's certificate is not trusted ({reason}, at {where}): "
            "set LKBUS_KAFKA__SSL_CAFILE to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return KafkaTlsError(
            f"TLS handshake with {where} failed ({exc.reason or exc.__class__.__name__}): check that "
            "LKBUS_KAFKA__SECURITY_PROTOCOL matches that listener (SSL / SASL_SSL only on TLS ports)"
        )
    if isinstance(exc, TopicAuthorizationFailedError):
        name = topic or next((a for a in exc.args if isinstance(a, str) and a), None)
        what = f"topic {name}" if name else "a topic"
        return KafkaAuthorizationError(
            f"not authorized to {operation or 'access'} {what}: grant an ACL to {who}"
        )
    if isinstance(exc, GroupAuthorizationFailedError):
        what = f"consumer group {group}" if group else "its consumer group"
        return KafkaAuthorizationError(
            f"not authorized to {operation or 'use'} {what}: grant an ACL to {who}"
        )
    if isinstance(exc, TransactionalIdAuthorizationFailed):
        return KafkaAuthorizationError(f"not authorized to use a transactional id: grant an ACL to {who}")
    if isinstance(exc, ClusterAuthorizationFailedError):
        return KafkaAuthorizationError(
            f"not authorized to {operation or 'do a cluster operation'} on the cluster at {where} "
            f"(an idempotent producer needs WRITE on some topic): grant an ACL to {who}"
        )
    if isinstance(exc, KafkaConnectionError | OSError | TimeoutError):
        return KafkaUnavailableError(
            f"cannot reach Kafka at {where} ({exc.__class__.__name__}); start it "
            "(`lkbus broker start`) or set LKBUS_KAFKA__BOOTSTRAP_SERVERS"
        )
    detail = _scrub(str(exc) or exc.__class__.__name__, kafka)
    return LkbusError(f"Kafka at {where} refused the request ({exc.__class__.__name__}: {detail})")


def _scrub(text: str, kafka: KafkaSettings) -> str:
    """`text` with every secret of `kafka` masked."""
    for secret in (kafka.sasl_password, kafka.ssl_keyfile_password):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "**********")
    return text
