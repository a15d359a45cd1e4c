"""The configuration table (docs/CONFIGURATION.md) and the settings model cannot drift apart: every setting the model
reads from the environment is in the table, and the table names no variable the model does not read."""

from __future__ import annotations

import re

from pydantic import BaseModel

from aladia_etl.core.settings import ENV_PREFIX, NESTED_DELIMITER, Settings
from tests.helpers import REPO

PAGE = REPO / "docs" / "CONFIGURATION.md"
SECTION = "## Every setting"


def model_variables(model: type[BaseModel], prefix: str = ENV_PREFIX) -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out |= model_variables(kind, prefix + name.upper() + NESTED_DELIMITER)
        else:
            out.add(prefix + name.upper())
    return out


def table_variables(page: str) -> set[str]:
    """The variables of the table under SECTION: a row's first cell names them in full
    (`ALADIA_POSTGRES__HOST`), by their last part after the previous one's group (`__PORT`), or as the previous
    one's `_FILE` twin (`(\\`_FILE\\`)`)."""
    assert SECTION in page, f"{PAGE.name} has no '{SECTION}' section"
    section = page.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split(" | ")[0]
        last = ""
        for token in re.findall(r"`([A-Z_]+)`", first_cell):
            if token.startswith(ENV_PREFIX):
                last = token
            elif token == "_FILE":
                token = last + "_FILE"
            elif token.startswith(NESTED_DELIMITER):
                token = last.rsplit(NESTED_DELIMITER, 1)[0] + token
                last = token
            else:
                continue
            found.add(token if token.startswith(ENV_PREFIX) else last)
    return found


def cli_variables() -> set[str]:
    """Variables the command line reads itself (an option's `envvar`, e.g. ALADIA_LOG_FORMAT)."""
    found: set[str] = set()
    for path in (REPO / "aladia_etl" / "cli").rglob("*.py"):
        found |= set(re.findall(r'envvar="(ALADIA_[A-Z_]+)"', path.read_text()))
    return found


def test_the_configuration_table_lists_every_setting_and_no_other():
    documented, real = table_variables(PAGE.read_text()), model_variables(Settings) | cli_variables()
    assert "ALADIA_LOG_FORMAT" in real
    assert not real - documented, f"settings missing from {PAGE.name}'s table: {sorted(real - documented)}"
    assert not documented - real, (
        f"{PAGE.name}'s table names settings the model does not read: {sorted(documented - real)}"
    )


def test_the_readme_points_at_the_configuration_page():
    assert "docs/CONFIGURATION.md" in (REPO / "README.md").read_text()
