"""The test suite's own layout: the tiers of the Makefile and the workers' units of work."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import FIRST, SHARED_FIXTURE_MODULES

TESTS = Path(__file__).resolve().parent


def _module_scoped_fixtures(path: Path) -> list[str]:
    """The fixtures of a test module declared with ``scope="module"`` (or "class")."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                kws = {k.arg: getattr(k.value, "value", None) for k in getattr(dec, "keywords", [])}
                if kws.get("scope") in ("module", "class"):
                    out.append(node.name)
    return out


def test_every_module_with_a_shared_fixture_runs_on_one_worker():
    """A module-scoped fixture built on two workers is built twice (a smoke run: minutes)."""
    shared = {p.name for p in TESTS.glob("test_*.py") if _module_scoped_fixtures(p)}
    assert shared == set(SHARED_FIXTURE_MODULES)
    assert set(FIRST) <= shared


def test_make_test_runs_everything_on_workers_and_make_check_leaves_out_the_slow_tests():
    make = (TESTS.parent / "Makefile").read_text()
    test = re.search(r"^test: setup\n\t(.+)$", make, re.M).group(1)
    check = re.search(r"^check: setup\n\t(.+)$", make, re.M).group(1)
    assert "-n $(TEST_WORKERS) --dist loadgroup" in test and "slow" not in test
    assert '-m "not slow"' in check and "-n 2 --dist loadgroup" in check
    assert "make test" in (TESTS.parent / ".ci" / "run").read_text()
