"""The CLI: errors are one line and exit 1; config is printed with secrets redacted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lkbus.cli import app

runner = CliRunner()


def test_config_redacts_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_KAFKA__SASL_PASSWORD", "s3cr3t-value")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert '"bootstrap_servers": "127.0.0.1:9092"' in result.output
    assert "s3cr3t-value" not in result.output
    assert "**********" in result.output


def test_bad_settings_exit_1_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_BROKER__PORT", "not-a-port")
    result = runner.invoke(app, ["broker", "status"])
    assert result.exit_code == 1
    assert "error: invalid settings: LKBUS_BROKER__PORT" in result.output
    assert "Traceback" not in result.output


def test_broker_start_with_port_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("LKBUS_BROKER__DATA_DIR", str(tmp_path))
        monkeypatch.setenv("LKBUS_BROKER__PORT", str(port))
        result = runner.invoke(app, ["broker", "start"])
    assert result.exit_code == 1
    assert f"error: port {port} on 127.0.0.1 is taken by another process" in result.output


def test_status_of_a_stopped_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LKBUS_BROKER__DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["broker", "status"])
    assert result.exit_code == 3
    assert result.output.startswith("stopped")


def test_topics_against_no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LKBUS_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    result = runner.invoke(app, ["topics", "list"])
    assert result.exit_code == 1
    assert f"error: cannot reach Kafka at 127.0.0.1:{port}" in result.output
    assert "LKBUS_KAFKA__BOOTSTRAP_SERVERS" in result.output
