"""The local broker's error paths: each a clear line that says what to do."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from lkbus.broker import LocalBroker
from lkbus.broker.runtime import ensure_jars, find_java, parse_java_major
from lkbus.errors import JarsUnavailableError, JavaMissingError, MavenMissingError, PortInUseError
from lkbus.settings import BrokerSettings


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_missing_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaMissingError, match=r"Java 17\+ not found: install it .* or set JAVA_HOME"):
        find_java()


def test_java_home_without_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(JavaMissingError, match="not found"):
        find_java()


def test_java_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    _script(tmp_path / "bin", "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaMissingError, match=r"is version 11; the Kafka broker needs Java 17\+"):
        find_java()


def test_missing_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MavenMissingError, match=r"Maven \(mvn\) not found.*install it"):
        ensure_jars(tmp_path / "jars")


def test_jars_that_cannot_be_resolved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _script(tmp_path, "mvn", "echo '[ERROR] Could not resolve dependencies: Network is unreachable'; exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(JarsUnavailableError) as caught:
        ensure_jars(tmp_path / "jars")
    assert "Network is unreachable" in str(caught.value)
    assert "check access to Maven Central" in str(caught.value)
    assert not any((tmp_path / "jars").glob("*/.resolved"))


def test_port_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(BrokerSettings(data_dir=tmp_path, port=port, controller_port=port + 1))
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is taken .* LKBUS_BROKER__PORT"):
            asyncio.run(broker.start())
    assert not broker.status().running


def test_stop_without_a_broker_is_harmless(tmp_path: Path) -> None:
    broker = LocalBroker(BrokerSettings(data_dir=tmp_path))
    assert broker.stop() is False


def test_stale_pid_file_is_not_a_running_broker(tmp_path: Path) -> None:
    (tmp_path / "broker.pid").write_text(str(os.getpid()))
    broker = LocalBroker(BrokerSettings(data_dir=tmp_path))
    assert not broker.status().running, "a live pid that is not our broker must not count"
    assert broker.stop() is False
