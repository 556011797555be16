"""The local broker's secure listener: a CA and broker certificate made for it, SCRAM users, ACLs.

The certificates are PEM files in `tls_dir` (owner-only), made on first use by `ensure_tls`;
clients trust the broker with `LKBUS_KAFKA__SSL_CAFILE=<tls_dir>/ca.pem`.

ACLs are created with Kafka's CreateAcls request, sent through aiokafka's admin client: aiokafka
0.14 has the request but no public method for it (and the broker's classpath has no kafka-tools
jar, where `kafka-acls` lives).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lkbus.errors import BrokerError, LkbusError
from lkbus.settings import KafkaSettings

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
KEYSTORE = "broker.pem"
_VALID_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The PEM files of the secure listener."""

    ca_cert: Path
    """The CA that signed the broker's certificate: what clients trust (LKBUS_KAFKA__SSL_CAFILE)."""
    keystore: Path
    """The broker's private key and certificate chain (`ssl.keystore.type=PEM`)."""


def ensure_tls(tls_dir: Path, hosts: Iterable[str]) -> TlsFiles:
    """The CA and broker certificate in `tls_dir`, made when missing or when `hosts` changed.

    The broker's certificate names every host of `hosts` (and localhost / 127.0.0.1).
    The folder is 0o700 and every file 0o600.
    """
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(tls_dir, 0o700)
    names = sorted({"localhost", "127.0.0.1", *hosts})
    ca_cert_path, ca_key_path, keystore = tls_dir / CA_CERT, tls_dir / CA_KEY, tls_dir / KEYSTORE
    if not (ca_cert_path.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, f"lkbus local CA {tls_dir.resolve()}")
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_private(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        keystore.unlink(missing_ok=True)
    if not keystore.exists() or _names_of(keystore) != set(names):
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise BrokerError(f"{ca_key_path} is not the CA key lkbus made; delete {tls_dir} to start afresh")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca_cert, loaded, names)
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
            serialization.Encoding.PEM
        )
        _write_private(keystore, _key_pem(key) + chain)
    return TlsFiles(ca_cert=ca_cert_path, keystore=keystore)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: what Kafka's PEM key store reads when no ssl.key.password is set.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=_VALID_DAYS)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    start, end = _validity()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
) -> x509.Certificate:
    start, end = _validity()
    alt_names: list[x509.GeneralName] = []
    for host in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lkbus local broker")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _names_of(keystore: Path) -> set[str]:
    """The host names and addresses the broker certificate in `keystore` is valid for."""
    try:
        cert = x509.load_pem_x509_certificates(keystore.read_bytes())[0]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, OSError, x509.ExtensionNotFound):
        return set()
    return {str(n) for n in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName)
    )


# --- ACLs ------------------------------------------------------------------------------------------


class ResourceType(IntEnum):
    """Kafka's ACL resource types (the values of the wire protocol)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    """How an ACL's resource name matches: exactly, or as a prefix."""

    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    """Kafka's ACL operations (the values of the wire protocol)."""

    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


@dataclass(frozen=True, slots=True)
class Acl:
    """One ALLOW (or DENY) rule: `principal` may do `operation` on a resource."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    operation: AclOperation
    pattern: PatternType = PatternType.LITERAL
    host: str = "*"
    allow: bool = True


def client_acls(
    user: str,
    *,
    topic_prefix: str,
    group_prefix: str | None = None,
    operations: Sequence[AclOperation] = (AclOperation.ALL,),
) -> list[Acl]:
    """What a producer / consumer / admin user of the project needs: `operations` on every topic
    whose name starts with `topic_prefix`, and READ on the consumer groups under `group_prefix`."""
    principal = f"User:{user}"
    acls = [Acl(principal, ResourceType.TOPIC, topic_prefix, op, PatternType.PREFIXED) for op in operations]
    if group_prefix is not None:
        acls.append(Acl(principal, ResourceType.GROUP, group_prefix, AclOperation.READ, PatternType.PREFIXED))
    return acls


async def create_acls(kafka: KafkaSettings, acls: Sequence[Acl]) -> None:
    """Create `acls` as the (super) user of `kafka`; the first refusal raises one `LkbusError`."""
    from aiokafka.protocol.admin import CreateAclsRequest

    from lkbus.topics import admin_client

    async with admin_client(kafka) as admin:
        for acl in acls:
            request = CreateAclsRequest(
                resource_type=int(acl.resource_type),
                resource_name=acl.resource_name,
                resource_pattern_type_filter=int(acl.pattern),
                principal=acl.principal,
                host=acl.host,
                operation=int(acl.operation),
                permission_type=3 if acl.allow else 2,
            )
            # aiokafka's admin client has no create_acls: send the request it already knows.
            response = await admin._send_request(request)
            for code, message in response.creation_responses:
                if code != 0:
                    raise LkbusError(
                        f"creating the ACL {acl.operation.name} on {acl.resource_type.name.lower()} "
                        f"{acl.resource_name!r} for {acl.principal} failed (error {code}: {message}); "
                        f"connect as a super user (LKBUS_KAFKA__SASL_USERNAME)"
                    )
