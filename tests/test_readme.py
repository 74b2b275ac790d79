"""The README and the configuration page say what the code does; these tests keep them equal.

The settings tables in docs/configuration.md are generated from the settings classes:
`python tests/test_readme.py` rewrites them in place (between their `<!-- NAME:start/end -->` markers).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic.fields import FieldInfo

from cpumon.cli import NOT_FLAGS
from cpumon.settings import AgentSettings, env_var, flag
from cpumon_backend.settings import ServerSettings
from tests.support.modules import module_from_file

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
#: The README is where a newcomer starts; the reference lives in docs/ (issue 22: at most 250 lines).
README_MAX_LINES = 250
#: The quick start, exactly as .ci/check_quickstart.py runs it.
QUICK_START = ("pip install nox && nox -s demo", "pip install nox && nox -s tests")

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


#: Each generated block of docs/configuration.md, by the name of its markers.
TABLES = {"agent-settings": agent_table, "server-settings": server_table}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:start -->\n)(.*?)(\n<!-- {name}:end -->)", re.DOTALL)


def generated_block(page: str, name: str) -> str:
    found = _block(name).search(page)
    assert found is not None, f"docs/configuration.md has no <!-- {name}:start/end --> markers"
    return found.group(2)


def regenerate(page: str) -> str:
    """The page with every generated table replaced by what the settings classes say today."""
    for name, table in TABLES.items():
        found = _block(name).search(page)
        assert found is not None, f"docs/configuration.md has no <!-- {name}:start/end --> markers"
        page = page[: found.start(2)] + table() + page[found.end(2) :]
    return page


def load_quickstart_check() -> ModuleType:
    """.ci/check_quickstart.py, which reads the quick start the way CI runs it."""
    return module_from_file("check_quickstart", ROOT / ".ci" / "check_quickstart.py")


def test_every_field_is_described() -> None:
    for model in (AgentSettings, ServerSettings):
        undocumented = [name for name, info in model.model_fields.items() if not info.description]
        assert undocumented == [], f"{model.__name__} fields without a description: {undocumented}"


def test_configuration_agent_settings_table_matches_the_settings_class() -> None:
    table = generated_block(CONFIGURATION.read_text(), "agent-settings")
    assert table == agent_table(), "agent settings table is stale: run `python tests/test_readme.py`"


def test_configuration_server_settings_table_matches_the_settings_class() -> None:
    table = generated_block(CONFIGURATION.read_text(), "server-settings")
    assert table == server_table(), "server settings table is stale: run `python tests/test_readme.py`"


def test_regenerating_replaces_a_stale_table_and_keeps_the_rest() -> None:
    page = CONFIGURATION.read_text()
    stale = page.replace(agent_table(), "| stale |")
    assert stale != page
    assert regenerate(stale) == regenerate(page) == page


def test_readme_quick_start_is_the_two_commands_ci_runs() -> None:
    assert load_quickstart_check().quick_start_lines() == QUICK_START


def test_readme_is_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move reference text into docs/"


def test_readme_links_point_at_files_that_exist() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert local, "the README links into the docs"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert missing == []


if __name__ == "__main__":
    CONFIGURATION.write_text(regenerate(CONFIGURATION.read_text()))
    print(f"regenerated the settings tables in {CONFIGURATION.relative_to(ROOT)}")
