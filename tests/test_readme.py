"""The README's settings tables are generated from the settings classes; this test keeps them equal.

Regenerate them with `python tests/test_readme.py` and paste the output over the two tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from cpumon.cli import NOT_FLAGS
from cpumon.settings import AgentSettings, env_var, flag
from cpumon_backend.settings import ServerSettings

README = Path(__file__).resolve().parent.parent / "README.md"

#: Defaults that come from a factory, shown as a user would find them on Linux.
FACTORY_DEFAULTS = {
    "spool_dir": "`~/.local/share/cpumon/spool`",
    "database_url": "SQLite file `~/.local/share/cpumon/cpumon.db`",
}


def render_default(name: str, info: FieldInfo) -> str:
    if name in FACTORY_DEFAULTS:
        return FACTORY_DEFAULTS[name]
    value: Any = info.default
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def agent_table() -> str:
    rows = ["| TOML key | env var | flag | default | meaning |", "|---|---|---|---|---|"]
    for name, info in AgentSettings.model_fields.items():
        flag_text = "—" if name in NOT_FLAGS else f"`{flag(name)}`"
        rows.append(
            f"| `{name}` | `{env_var(name)}` | {flag_text} | {render_default(name, info)} | {info.description} |"
        )
    return "\n".join(rows)


def server_table() -> str:
    rows = ["| env var | default | meaning |", "|---|---|---|"]
    for name, info in ServerSettings.model_fields.items():
        rows.append(f"| `CPUMON_{name.upper()}` | {render_default(name, info)} | {info.description} |")
    return "\n".join(rows)


def test_every_field_is_described() -> None:
    for model in (AgentSettings, ServerSettings):
        undocumented = [name for name, info in model.model_fields.items() if not info.description]
        assert undocumented == [], f"{model.__name__} fields without a description: {undocumented}"


def test_readme_agent_settings_table_matches_the_settings_class() -> None:
    assert agent_table() in README.read_text(), "README agent settings table is stale:\n" + agent_table()


def test_readme_server_settings_table_matches_the_settings_class() -> None:
    assert server_table() in README.read_text(), "README server settings table is stale:\n" + server_table()


def test_readme_quick_start_is_two_commands() -> None:
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("$ ")]
    assert len(commands) == 2
    assert "nox -s demo" in commands[0]
    assert "nox -s tests" in commands[1]


if __name__ == "__main__":
    print(agent_table(), end="\n\n")
    print(server_table())
