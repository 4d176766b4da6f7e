"""The engine's tree reads as its architecture: a package per layer, in one order, a few entry modules on
top, one name per module and per class, and no import cycle between modules or between packages.

Everything is read from the source with ``ast``; nothing is imported. An import under
``if TYPE_CHECKING:`` never runs (it names the types of annotations for type checkers), so it counts
for none of these rules.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "ablate"
MOST_TOP_MODULES = 10


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {dotted(path): path for path in sorted(ENGINE.rglob("*.py"))}


def import_time_nodes(tree: ast.Module):
    """The statements run when the module is imported: its body, into if/try/with and class bodies,
    not into functions (an import inside a function runs when it is called)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(package: str, nodes, modules) -> set[str]:
    """The ablate modules these nodes import: ``import a.b``, ``from a import b`` (b a module, else a),
    relative imports resolved against ``package``."""
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            subs = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
            found |= subs if len(subs) == len(node.names) else subs | {base}
    return {name for name in found if name in modules}


def for_type_checkers(tree: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:``, which never run."""
    blocks = [node.body for node in ast.walk(tree)
              if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")]
    return {id(inner) for body in blocks for statement in body for inner in ast.walk(statement)}


def graph(lazy: bool = False) -> dict[str, set[str]]:
    """Which ablate modules each one imports when it is imported (``lazy``: anywhere in it)."""
    edges = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        skipped = for_type_checkers(tree)
        nodes = [node for node in (ast.walk(tree) if lazy else import_time_nodes(tree)) if id(node) not in skipped]
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        edges[module] = imported_modules(package, nodes, MODULES) - {module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), or a module importing itself."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "modules that import each other when imported: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"a"}}, [["a"]]),
    ({"a": {"b"}, "b": set(), "c": {"a", "b"}}, []),
])
def test_the_cycle_check_finds_cycles(edges, expected):
    assert cycles(edges) == expected


def test_a_relative_import_is_resolved_against_the_package():
    tree = ast.parse("from . import tables\nfrom ..core import errors\nfrom .results import tidy\nimport torch")
    modules = {"ablate.report.tables", "ablate.core.errors", "ablate.report.results", "ablate.report"}
    assert imported_modules("ablate.report", tree.body, modules) == {"ablate.report.tables", "ablate.core.errors",
                                                                      "ablate.report.results"}


def test_imports_for_type_checkers_only_are_not_imports():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ablate.study.settings import "
                     "Settings\nfrom ablate.core import errors")
    modules = {"ablate.study.settings", "ablate.core.errors"}
    nodes = [node for node in ast.walk(tree) if id(node) not in for_type_checkers(tree)]
    assert imported_modules("ablate.core", nodes, modules) == {"ablate.core.errors"}


# The layers, lowest first. A package imports only packages below it (or itself), at module level and
# inside functions alike. The order is the one the code honoured with the fewest moves:
# - core is the foundation every layer shares: errors, parameters, hooks, the registry, and (moved down
#   for this rule) file writing and reading, the device and a model's mode, progress reporting;
# - data sits on core: the prober draws its subsets from it, nothing in it needs more;
# - spectral (the LFC/HFC split, probes, the prober) below study and train: the trainer probes as it
#   trains and a recipe's probe names are checked when it is expanded, while the prober needed from
#   train only the device and mode helpers, now in core;
# - study below train: training takes its settings, runs and sizes (six imports), a study takes nothing
#   of training;
# - report below execution: a recipe's run ends by printing its report (run_recipe), while the report
#   needed of execution only the run-labelling formatters (now report/value_text.py) and read_json
#   (now core/files.py);
# - any_model (`ablate probe`) uses the report, and nothing below uses it;
# - the entry modules on top: the command line (cli/), ablate.api, ablate.testing and the root package.
LAYERS = ("core", "data", "spectral", "study", "train", "report", "execution", "any_model", "cli")
ENTRY = "cli"           # the layer of the entry modules directly in ablate/ (api.py, testing.py, __init__.py)
ROOT_PACKAGE = "ablate"  # its body is a literal __version__ and imports nothing (tests/test_public_api.py):
                         # reading ablate.__version__ depends on no layer, so importing it counts for none


def layer(module: str) -> str:
    """The layer of an ablate module: its package under ablate/, or the entry layer for a top module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ENTRY


def import_statements():
    """Every import of an ablate module, anywhere in a module but under ``if TYPE_CHECKING:``, as
    ``(file:line, importer, imported)``."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        skipped = for_type_checkers(tree)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
                for imported in sorted(imported_modules(package, [node], MODULES) - {module}):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", module, imported


def upward_imports(statements, order=LAYERS) -> list[str]:
    """The imports that run up the order (a layer importing one above it), each named by file and line."""
    rank = {name: i for i, name in enumerate(order)}
    return [f"{where}: {importer} ({layer(importer)}) imports {imported} ({layer(imported)}), a layer above it"
            for where, importer, imported in statements
            if imported != ROOT_PACKAGE and rank[layer(imported)] > rank[layer(importer)]]


def package_graph(statements) -> dict[str, set[str]]:
    """Which packages (layers) import which others."""
    edges: dict[str, set[str]] = {}
    for _, importer, imported in statements:
        if imported != ROOT_PACKAGE and layer(importer) != layer(imported):
            edges.setdefault(layer(importer), set()).add(layer(imported))
    return edges


def test_every_package_has_its_place_in_the_order():
    packages = sorted(path.name for path in ENGINE.iterdir() if (path / "__init__.py").exists())
    assert set(packages) == set(LAYERS), f"packages {packages} vs the layers {LAYERS}: add a new one to LAYERS"


def test_no_package_imports_one_above_it():
    found = upward_imports(import_statements())
    assert not found, "imports up the order " + " < ".join(LAYERS) + ":\n" + "\n".join(found)


def test_no_two_packages_import_each_other():
    found = cycles(package_graph(import_statements()))
    assert not found, "packages that import each other: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_layer_check_finds_an_upward_import_and_a_package_loop():
    statements = [("ablate/core/a.py:3", "ablate.core.a", "ablate.train.b"),     # up: core imports train
                  ("ablate/train/b.py:7", "ablate.train.b", "ablate.core.a"),     # down: allowed
                  ("ablate/train/b.py:9", "ablate.train.b", "ablate"),            # the version: allowed
                  ("ablate/api.py:40", "ablate.api", "ablate.report.c")]          # entry on top: allowed
    assert upward_imports(statements) == [
        "ablate/core/a.py:3: ablate.core.a (core) imports ablate.train.b (train), a layer above it"]
    assert cycles(package_graph(statements)) == [["core", "train"]]
    assert upward_imports(statements[1:]) == [] and cycles(package_graph(statements[1:])) == []


def test_core_imports_no_other_part_of_ablate():
    outside = {module: sorted(n for n in names if not n.startswith("ablate.core"))
               for module, names in graph(lazy=True).items() if module.startswith("ablate.core")}
    assert not any(outside.values()), {m: names for m, names in outside.items() if names}


def test_few_modules_directly_in_ablate():
    top = sorted(path.name for path in ENGINE.glob("*.py"))
    assert len(top) <= MOST_TOP_MODULES, f"{len(top)} modules directly in ablate/: {top}; put them in a layer"


def test_no_two_modules_share_a_name():
    names = Counter(path.stem for path in ENGINE.rglob("*.py") if path.stem != "__init__")
    assert not [name for name, count in names.items() if count > 1], names.most_common(3)


def test_no_two_classes_share_a_name():
    where = {}
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module)
    twice = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert not twice, twice
