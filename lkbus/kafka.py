"""aiokafka client options built from the settings, shared by producers, consumers and the CLI."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from lkbus.settings import KafkaSettings


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security options accepted by every aiokafka client."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(kafka)
    return options


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
        certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
        keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
        password=kafka.ssl_keyfile_password.get_secret_value() if kafka.ssl_keyfile_password else None,
    )
    return context


def faststream_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """The same connection security, in the form FastStream's KafkaBroker takes."""
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
