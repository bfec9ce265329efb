"""The repository's layout rules that import-linter cannot see (it knows packages, not scripts).

bench/ is a folder of scripts and testkit/ the shared fakes: neither may reach into the
test suite, so a benchmark runs the same doubles as the tests and a test can be moved or
deleted without breaking a benchmark. And no module of the product grows past
`MODULE_LINES_MAX`: the scheduler once grew into one 1,250-line class (issue 10).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: A module longer than this holds more than one thing: split it by what it holds.
MODULE_LINES_MAX = 400


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names only (relative ones stay in their package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", ["bench", "testkit"])
def test_folder_never_imports_the_test_suite(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"{folder}/ has no Python files: the check would prove nothing"
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name == "tests" or name.startswith("tests.")
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_an_import_of_the_suite(tmp_path: Path) -> None:
    script = tmp_path / "bench_like.py"
    script.write_text("import os\nfrom tests.core import helpers\nfrom . import sibling\n")
    assert imported_modules(script) == {"os", "tests.core"}


def test_no_module_of_the_product_is_over_the_line_limit() -> None:
    files = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")])
    assert len(files) > 50, "bot/ and cogs/ look empty: the check would prove nothing"
    lengths = {str(path.relative_to(ROOT)): len(path.read_bytes().splitlines()) for path in files}
    assert {path: n for path, n in lengths.items() if n > MODULE_LINES_MAX} == {}
