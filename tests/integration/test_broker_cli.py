"""`lkbus broker` as a user runs it: start twice, status, stop; and a broker that dies on start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lkbus.broker.ephemeral import free_port


def _lkbus(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lkbus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _our_java_processes(data_dir: Path) -> list[str]:
    marker = f"-Dlkbus.broker.dir={data_dir.resolve()}".encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes()
        except OSError:
            continue
        if marker in args.split(b"\0"):
            found.append(cmdline.parent.name)
    return found


@pytest.fixture
def broker_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LKBUS_BROKER__DATA_DIR": str(tmp_path / "broker"),
            "LKBUS_BROKER__PORT": str(free_port()),
            "LKBUS_BROKER__CONTROLLER_PORT": str(free_port()),
            "LKBUS_BROKER__JARS_DIR": str(Path(".lkbus/kafka-jars").resolve()),
        }
    )
    return env


def test_start_twice_then_stop_leaves_nothing(broker_env: dict[str, str], tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    try:
        first = _lkbus(["broker", "start"], broker_env)
        assert first.returncode == 0, first.stderr
        assert f"127.0.0.1:{broker_env['LKBUS_BROKER__PORT']}" in first.stdout
        pid = int((data_dir / "broker.pid").read_text())
        second = _lkbus(["broker", "start"], broker_env)
        assert second.returncode == 0, second.stderr
        assert int((data_dir / "broker.pid").read_text()) == pid, "a second start reuses the running broker"
        assert len(_our_java_processes(data_dir)) == 1
        status = _lkbus(["broker", "status"], broker_env)
        assert status.returncode == 0
        assert status.stdout.startswith(f"running (pid {pid})")
        assert "Kafka Server started" in _lkbus(["broker", "logs", "-n", "400"], broker_env).stdout
    finally:
        stop = _lkbus(["broker", "stop"], broker_env)
    assert stop.returncode == 0, stop.stderr
    assert "broker stopped" in stop.stdout
    assert _our_java_processes(data_dir) == []
    assert not (data_dir / "broker.pid").exists()
    assert _lkbus(["broker", "status"], broker_env).returncode == 3


def test_broker_that_exits_during_start_shows_its_log(broker_env: dict[str, str], tmp_path: Path) -> None:
    broker_env["LKBUS_BROKER__HEAP"] = "1m"
    result = _lkbus(["broker", "start"], broker_env)
    assert result.returncode == 1
    assert "error: the broker exited with code" in result.stderr
    assert "heap" in result.stderr.lower(), "the tail of the broker's log explains why"
    assert _our_java_processes(tmp_path / "broker") == []


async def test_a_cluster_id_that_starts_with_a_dash_formats(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uuid

    from lkbus.broker import LocalBroker
    from lkbus.settings import BrokerSettings

    dash_first = uuid.UUID(bytes=b"\xfb" + bytes(15))  # base64url "-wA..."
    monkeypatch.setattr("lkbus.broker.local.uuid.uuid4", lambda: dash_first)
    broker = LocalBroker(
        BrokerSettings(
            data_dir=tmp_path / "dash",
            port=free_port(),
            controller_port=free_port(),
            jars_dir=Path(".lkbus/kafka-jars").resolve(),
        )
    )
    try:
        status = await broker.start()
        assert status.running
    finally:
        broker.stop()
