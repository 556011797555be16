"""The README's configuration table is the one generated from the settings class."""

from __future__ import annotations

from pathlib import Path

from lkbus.settings import Settings
from lkbus.settings_doc import embedded_table, settings_table

README = Path(__file__).parents[2] / "README.md"


def test_readme_table_matches_the_settings_class() -> None:
    assert embedded_table(README.read_text()) == settings_table(), (
        "README's configuration table drifted: run `lkbus config --markdown` and paste it between the markers"
    )


def test_every_setting_is_documented() -> None:
    table = settings_table()
    for section, field in Settings.model_fields.items():
        for name, info in field.annotation.model_fields.items():  # type: ignore[union-attr]
            env = f"LKBUS_{section.upper()}__{name.upper()}"
            assert f"`{env}`" in table
            assert info.description, f"{env} has no description"


def test_secrets_have_no_default_shown() -> None:
    assert "hunter2" not in settings_table()
    row = next(line for line in settings_table().splitlines() if "SASL_PASSWORD" in line)
    assert "(secret)" in row or "—" in row
