"""The lanes of noxfile.py add up to the whole suite: every test is marked by what it needs, and each
combination of those markers is selected by exactly one lane."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from tests.conftest import lane_marks

NOXFILE = Path(__file__).resolve().parent.parent / "noxfile.py"
NEEDS = ("mysql", "redis", "browser")


def noxfile_lanes() -> dict[str, str]:
    """LANES as noxfile.py writes it (read, not imported: the test lanes do not install nox)."""
    for node in ast.parse(NOXFILE.read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(target, ast.Name) and target.id == "LANES" for target in targets):
                assert node.value is not None
                lanes: dict[str, str] = ast.literal_eval(node.value)
                return lanes
    raise AssertionError("noxfile.py defines no LANES")


@pytest.mark.parametrize(
    ("fixtures", "params", "expected"),
    [
        ({"sqlite_backend", "tmp_path"}, ["sqlite"], set()),
        ({"backend", "mysql_backend"}, ["mysql"], {"mysql"}),
        ({"backend", "redis_backend", "sqlite_backend"}, ["redis"], {"redis"}),
        ({"mysql_db", "mysql_redis_db"}, [], {"mysql", "redis"}),
        ({"served"}, ["mysql-redis-2-workers"], {"mysql", "redis"}),
        ({"tmp_path"}, ["mysql:/no-slashes", "postgresql://u@db/x"], set()),  # a bad URL, not a variant
        ({"browser", "browser_page", "web_server"}, [], {"browser"}),
        ({"kind"}, [3, None], set()),
    ],
)
def test_a_test_is_marked_by_the_services_and_browser_it_asks_for(
    fixtures: set[str], params: list[object], expected: set[str]
) -> None:
    assert lane_marks(fixtures, params) == expected


class _Marked:
    """pytest's -m matcher for a test that carries `marks`."""

    def __init__(self, marks: tuple[str, ...]) -> None:
        self.marks = marks

    def __call__(self, name: str, /, **kwargs: str | int | bool | None) -> bool:
        return name in self.marks


def test_every_combination_of_needs_runs_in_exactly_one_lane() -> None:
    lanes = {name: Expression.compile(selection) for name, selection in noxfile_lanes().items()}
    for size in range(len(NEEDS) + 1):
        for marks in itertools.combinations(NEEDS, size):
            chosen = [name for name, selection in lanes.items() if selection.evaluate(_Marked(marks))]
            assert len(chosen) == 1, f"a test marked {marks or 'with nothing'} runs in {chosen}"
