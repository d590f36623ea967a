"""The settings classes and docs/operator.md's table name the same environment variables,
and every FMAR_* variable the code mentions is in the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.config import NodeSettings
from trust.server.config import TrustSettings

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"`(FMAR_[A-Z0-9_]+)`")


def table() -> dict[str, set[str]]:
    """Service -> the variables its rows of the settings table name."""
    text = (ROOT / "docs" / "operator.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    by_service: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[1] in ("node", "trust", "client"):
            by_service.setdefault(cells[1], set()).update(VARIABLE.findall(cells[0]))
    return by_service


def cli_variables() -> set[str]:
    """Every variable a command-line option of `fmar` reads."""
    import click
    import typer

    from node.cli import app

    found: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            found.update([envvar] if isinstance(envvar, str) else envvar or [])
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def test_the_node_rows_are_the_node_settings():
    assert table()["node"] == set(NodeSettings.variables())


def test_the_trust_rows_are_the_trust_settings_and_its_command_line():
    rows = table()["trust"]
    settings = set(TrustSettings.variables())
    assert settings <= rows, settings - rows
    assert rows - settings <= cli_variables(), rows - settings - cli_variables()


def test_every_command_line_variable_is_in_the_table():
    listed = set().union(*table().values())
    assert cli_variables() <= listed, cli_variables() - listed


def test_every_variable_the_code_mentions_is_in_the_table():
    listed = set().union(*table().values())
    mentioned = set()
    for package in ("node", "trust", "common"):
        for source in (ROOT / package).rglob("*.py"):
            mentioned.update(name for name in re.findall(r"\bFMAR_[A-Z0-9_]*[A-Z0-9]\b",
                                                         source.read_text())
                             if not name.endswith("_"))
    # FMAR_RATE: the prefix of the rate-limit variables in prose (`FMAR_RATE_*`)
    assert mentioned - {"FMAR_RATE"} <= listed, mentioned - listed


@pytest.mark.parametrize("cls", [NodeSettings, TrustSettings])
def test_every_field_reads_a_variable(cls):
    """No field reads an undocumented variable named after the field."""
    assert set(cls.variables().values()) == set(cls.model_fields)


def test_an_empty_variable_is_unset_and_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("FMAR_DATA_DIR", "")
    monkeypatch.setenv("FMAR_DATASET_TYPES", " Asset, ConnectionLimit ,")
    monkeypatch.setenv("FMAR_HOLDS", " FSP-ACME, PLAT-1 ,")
    monkeypatch.setenv("FMAR_TRUST_ISSUER", "https://tf.example/")
    settings = NodeSettings()
    assert settings.data_dir is None
    assert settings.dataset_types == ("Asset", "ConnectionLimit")
    assert settings.holds == {"FSP-ACME", "PLAT-1"}
    assert settings.trust_url == settings.trust_issuer == "https://tf.example"
    assert NodeSettings(workers=1, trust_url="https://other.example").trust_url == \
        "https://other.example"  # a keyword wins over the environment
