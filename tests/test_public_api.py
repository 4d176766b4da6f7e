"""Plugins use the public API only: ``ablate`` and ``ablate.api`` (their tests also ``ablate.testing``).

The built-in plugins (``plugins/``), the tutorial package (``examples/``) and the plugin tutorial's code
(docs/writing-a-plugin.md) are parsed, never imported: any other ``ablate.*`` module they import, or reach
as an attribute (``ablate.report.plots.new_figure``), and any import of another plugin fails the test,
naming the file and line.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ablate
import ablate.api

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {"ablate", "ablate.api"}
FOR_TESTS = PUBLIC | {"ablate.testing"}


def engine_modules() -> set[str]:
    """Every module and package under ablate/, by dotted name."""
    found = set()
    for path in (ROOT / "ablate").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def attribute_path(node: ast.Attribute) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def violations(source: str, where: str, allowed: set[str], modules: set[str]) -> list[str]:
    """Each place that reaches into ablate beyond ``allowed``, or into ablate's built-in plugins."""
    found = []

    def internal(name: str) -> str | None:
        """The non-public ablate module ``name`` (a dotted path) starts with, if any."""
        parts = name.split(".")
        prefixes = [".".join(parts[:i]) for i in range(len(parts), 1, -1)]
        hit = next((p for p in prefixes if p in modules), None)
        return hit if parts[0] == "ablate" and hit and hit not in allowed else None

    tree = ast.parse(source)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            whole = internal(node.module) or node.module.split(".")[0] == "ablate_plugins"
            names = [node.module] if whole else [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            names = [attribute_path(node) or ""]
        for name in names:
            module = internal(name)
            if module:
                found.append(f"{where}:{node.lineno}: {module} is internal; import its names from ablate.api")
            elif name.split(".")[0] == "ablate_plugins":
                found.append(f"{where}:{node.lineno}: imports the built-in plugins ({name}); share code through "
                             f"ablate.api instead")
    return sorted(set(found))


def sources() -> list[tuple[str, str, set[str]]]:
    """(text, where, allowed modules) of each plugin file, and of each Python block of the plugin tutorial."""
    found = []
    for path in sorted((ROOT / "plugins").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        found.append((path.read_text(), where, FOR_TESTS if "tests" in path.parts else PUBLIC))
    tutorial = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    for number, block in enumerate(re.findall(r"```python\n(.*?)```", tutorial, re.S), 1):
        found.append((textwrap.dedent(block), f"docs/writing-a-plugin.md, python block {number}", FOR_TESTS))
    return found


def test_plugins_and_the_tutorial_import_only_the_public_api():
    modules = engine_modules()
    problems = [line for text, where, allowed in sources() for line in violations(text, where, allowed, modules)]
    assert not problems, "\n".join(problems)


SAMPLE_ENGINE = {"ablate", "ablate.api", "ablate.report", "ablate.report.layouts", "ablate.report.tables"}


@pytest.mark.parametrize("code", [
    "from ablate.report import layouts",
    "from ablate import report",                     # a module imported by name from the package
    "import ablate.report.layouts as layouts",
    "import ablate\nablate.report.layouts.figure1_layout",
    "from ablate_plugins.attacks import minimal_eps_results",
    "def f():\n    from ablate.report.tables import LEGEND",
])
def test_the_check_catches_each_way_into_the_engine(code):
    found = violations(code, "plugin.py", PUBLIC, SAMPLE_ENGINE)
    assert len(found) == 1 and found[0].startswith("plugin.py:"), found


@pytest.mark.parametrize("code", ["import ablate\nablate.Plugin", "from ablate import Param, hookimpl",
                                  "from ablate.api import new_figure", "import ablate.api as api\napi.split"])
def test_the_public_names_pass(code):
    assert violations(code, "plugin.py", PUBLIC, SAMPLE_ENGINE) == []


def test_every_public_name_exists_where_ablate_api_says():
    for module, names in ablate.api.PUBLIC.items():
        for name in names:
            value = getattr(ablate.api, name)
            defined = value.__module__ if inspect.isfunction(value) or inspect.isclass(value) else module
            assert defined == module, f"ablate.api.{name}: declared in {module}, defined in {defined}"
    assert len(ablate.api.__all__) == len(set(ablate.api.__all__)), "a name is declared twice"


def test_ablate_re_exports_the_same_objects_as_ablate_api():
    for name in ablate.__all__:
        if name != "__version__":
            assert getattr(ablate, name) is getattr(ablate.api, name), name


def type_checking_imports(path: Path) -> dict[str, list[str]]:
    """``{module: [names]}`` that a file imports under ``if TYPE_CHECKING:`` (in ruff's sorted order)."""
    found: dict[str, list[str]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and all(not a.asname for a in statement.names), \
                    f"{path.name}:{statement.lineno}: only `from MODULE import NAME` here"
                found.setdefault(statement.module, []).extend(alias.name for alias in statement.names)
    return found


def test_type_checkers_see_exactly_the_names_ablate_api_serves():
    imported = type_checking_imports(ROOT / "ablate" / "api.py")
    assert {m: sorted(n) for m, n in imported.items()} == {m: sorted(n) for m, n in ablate.api.PUBLIC.items()}
    assert all(len(set(n)) == len(n) for n in imported.values())


def test_type_checkers_see_exactly_the_names_ablate_serves():
    imported = type_checking_imports(ROOT / "ablate" / "__init__.py")
    served = set(ablate.__all__) - {"__version__"}
    assert list(imported) == ["ablate.api"] and sorted(imported["ablate.api"]) == sorted(served)


def test_importing_ablate_imports_no_engine_module_until_a_name_is_used():
    code = "import sys, ablate, ablate.api; print(*sorted(m for m in sys.modules if m.startswith('ablate')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["ablate", "ablate.api"]
