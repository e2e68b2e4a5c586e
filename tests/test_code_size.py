"""The size limits of STYLE.md, held by a test over the tree: modules up to 400 lines and
functions up to 60 lines in the apps (migrations excluded).

The modules listed in KNOWN_LONG_MODULES were over the limit when the limit became a test;
each entry may only shrink: a listed module that grows fails, one that got under the limit
must be removed from the list (so the list only gets shorter).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("billingsite", "accounts", "metering", "invoicing", "disputes", "revenue")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# module -> its line count when it was listed (split it, then lower or remove the entry)
KNOWN_LONG_MODULES: dict[str, int] = {
    "invoicing/stripe/gateway.py": 598,
}
# "path::function" -> its length when it was listed
KNOWN_LONG_FUNCTIONS: dict[str, int] = {
    "invoicing/demo.py::_enterprise_terms": 63,
    "invoicing/selectors/usage_ladders.py::rate_ladder": 79,
}


def _modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _long_functions(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                name = f"{path.relative_to(ROOT).as_posix()}::{node.name}"
                found[name] = length
    return found


def test_the_tree_has_modules_to_check() -> None:
    assert len(_modules()) > 100


def test_modules_stay_under_the_line_limit() -> None:
    too_long = {}
    for path in _modules():
        name = path.relative_to(ROOT).as_posix()
        lines = _line_count(path)
        allowed = KNOWN_LONG_MODULES.get(name, MAX_MODULE_LINES)
        if lines > allowed:
            too_long[name] = lines
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines (or grown past their entry)"


def test_known_long_modules_are_still_long() -> None:
    """An entry whose module was split (or deleted) must leave the list."""
    stale = {
        name: allowed
        for name, allowed in KNOWN_LONG_MODULES.items()
        if not (ROOT / name).exists() or _line_count(ROOT / name) <= MAX_MODULE_LINES
    }
    assert stale == {}


def test_known_long_functions_are_still_long() -> None:
    found: dict[str, int] = {}
    for path in _modules():
        found.update(_long_functions(path))
    assert sorted(set(KNOWN_LONG_FUNCTIONS) - set(found)) == []


def test_functions_stay_under_the_line_limit() -> None:
    too_long = {}
    for path in _modules():
        for name, lines in _long_functions(path).items():
            if lines > KNOWN_LONG_FUNCTIONS.get(name, MAX_FUNCTION_LINES):
                too_long[name] = lines
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines"
