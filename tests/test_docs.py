"""The generated references are current: docs/cli.md is what the parsers print, docs/columns.md
what the schema's field metadata says (``make docs`` rewrites both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.cli import reference
from mlpbench.results import schema

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_the_generated_reference_is_current(name):
    written = (DOCS / name).read_text()
    assert written == reference.PAGES[name](), f"docs/{name} is stale: run make docs"


def test_every_command_and_column_is_in_its_reference():
    from mlpbench.cli.app import COMMANDS

    cli = (DOCS / "cli.md").read_text()
    for command in COMMANDS:
        name = command.__name__.rsplit("cmd_", 1)[1]
        assert f"## mlpbench {name}\n" in cli
    columns = (DOCS / "columns.md").read_text()
    for column in (*schema.RUN_COLUMNS, *schema.EPOCH_COLUMNS):
        assert f"| `{column}` |" in columns


def test_a_column_without_a_doc_cannot_be_published(monkeypatch):
    monkeypatch.setattr(schema, "EPOCH_DOCS", {**schema.EPOCH_DOCS, "loss": ""})
    with pytest.raises(ValueError, match="'loss' has no doc"):
        reference.columns_page()
