"""The import layers of grader/, read with `ast` (nothing is imported, so no module can hide a
violation behind an import-time side effect or a missing optional dependency).

Rules (issue 16, "honest layers"; docs/design.md "grader/ the core, importable without Streamlit"):
1. nothing in grader/ imports Streamlit;
2. the core never imports the edges: grader.api, grader.commands, grader.cli, grader.app_support
   or the app's pages;
3. only grader/training imports torch;
4. a `grader` import inside a function is allowed only for a heavy optional dependency (the
   training code, which pulls in torch); the imports still inside functions today are listed in
   TODAY_IN_FUNCTION, to be emptied by issue 16;
5. no import circle between grader modules (in-function imports count: they hide circles).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GRADER = ROOT / "grader"

# The edges: they may import anything; the rest of grader/ is the core.
EDGE_PREFIXES = ("grader.api", "grader.commands", "grader.cli", "grader.app_support", "grader.demo",
                 "grader.training", "grader.__main__")
FORBIDDEN_IN_CORE = ("grader.api", "grader.commands", "grader.cli", "grader.app_support", "pages")
# In-function `grader` imports that stay lazy on purpose: they load torch (training, export). Inside
# grader/training torch is loaded already, so there a lazy import only hides a circle.
HEAVY_GRADER_MODULES = ("grader.training",)

# (importer, imported) pairs still inside functions; to be emptied by issue 16. A pair that is
# gone is reported (printed) so the list can shrink; a new pair fails the test.
TODAY_IN_FUNCTION: frozenset[tuple[str, str]] = frozenset({
    ("grader.commands.serve_api", "grader.api"),
})


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. "grader.registration"
    imported: str  # dotted module name as resolved, e.g. "grader.template"
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`, never executed


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a `from ... import` names, with relative imports resolved against the importer."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(source: str, importer: str, known: frozenset[str] = frozenset(),
               is_package: bool = False) -> list[Import]:
    """Every import statement of a module. `from grader import db` names the module grader.db
    when it is one of `known`, else the package itself."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(importer, alias.name, child.lineno, in_function, type_only)
                             for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, importer, is_package)
                targets = {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names}
                found.extend(Import(importer, t, child.lineno, in_function, type_only) for t in sorted(targets))
            else:
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                checking = type_only or (isinstance(child, ast.If) and _is_type_checking(child))
                visit(child, nested, checking)

    visit(ast.parse(source), False, False)
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_violations(imports: list[Import]) -> list[str]:
    """Rules 1-3 (every import counts, lazy or not)."""
    problems = []
    for i in imports:
        where = f"{i.importer}:{i.line} imports {i.imported}"
        if _under(i.imported, ("streamlit",)):
            problems.append(f"{where}: grader/ never imports Streamlit")
        if not _under(i.importer, EDGE_PREFIXES) and _under(i.imported, FORBIDDEN_IN_CORE):
            problems.append(f"{where}: the core never imports the app, API or CLI layers")
        if _under(i.imported, ("torch",)) and not _under(i.importer, ("grader.training",)):
            problems.append(f"{where}: only grader/training imports torch")
    return problems


def lazy_grader_imports(imports: list[Import]) -> set[tuple[str, str]]:
    """Rule 4: (importer, imported) of each in-function grader import that is not a heavy one."""
    def heavy(i: Import) -> bool:
        return _under(i.imported, HEAVY_GRADER_MODULES) and not _under(i.importer, HEAVY_GRADER_MODULES)

    return {(i.importer, i.imported) for i in imports
            if i.in_function and not i.type_only and _under(i.imported, ("grader",)) and not heavy(i)}


def circles(imports: list[Import], modules: frozenset[str]) -> set[tuple[str, ...]]:
    """Rule 5: the strongly connected components of more than one module (Tarjan's algorithm),
    over runtime imports between grader modules; a package's own __init__ is not an edge."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        if not i.type_only and i.imported in modules and i.imported != i.importer and i.imported != "grader":
            graph[i.importer].add(i.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[tuple[str, ...]] = set()

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def grader_imports() -> tuple[list[Import], frozenset[str]]:
    paths = sorted(p for p in GRADER.rglob("*.py") if "migrations" not in p.parts)
    modules = frozenset(module_name(p) for p in paths)
    imports = [i for p in paths
               for i in imports_of(p.read_text(encoding="utf-8"), module_name(p), modules, p.name == "__init__.py")]
    return imports, modules


# --- the checker catches what it should (a check that cannot fail is a defect) ----------------------

_BAD_CORE = '''
import streamlit as st
from grader.api import app
from . import cli
import torch

def lazy():
    from grader.store import save_graded_page
    from grader.training.train import train  # heavy: allowed lazily
    return save_graded_page, train
'''


def test_the_checker_catches_each_kind_of_violation():
    known = frozenset({"grader.scoring", "grader.cli", "grader.store", "grader.api"})
    imports = imports_of(_BAD_CORE, "grader.scoring", known)
    problems = layer_violations(imports)
    assert any("streamlit" in p and "never imports Streamlit" in p for p in problems)
    assert any("grader.api" in p and "app, API or CLI" in p for p in problems)
    assert any("grader.cli" in p for p in problems), "a relative import of the CLI is resolved"
    assert any("torch" in p and "only grader/training" in p for p in problems)
    assert lazy_grader_imports(imports) == {("grader.scoring", "grader.store")}
    inside = imports_of("def f():\n    from grader.training.dataset import x\n", "grader.training.data")
    assert lazy_grader_imports(inside) == {("grader.training.data", "grader.training.dataset")}


def test_the_checker_lets_edges_and_training_be():
    api = imports_of("import torch\nfrom grader.api import app\n", "grader.training.export")
    assert layer_violations(api) == []
    cli = imports_of("from grader.commands import grade\n", "grader.cli")
    assert layer_violations(cli) == []
    typed = imports_of("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from grader.pipeline import X\n",
                       "grader.store")
    assert typed[-1].type_only and lazy_grader_imports(typed) == set()


def test_the_checker_finds_a_circle_hidden_in_a_function():
    modules = frozenset({"grader.a", "grader.b", "grader.c"})
    imports = (imports_of("from grader.b import f\n", "grader.a", modules)
               + imports_of("def g():\n    from grader.a import h\n", "grader.b", modules)
               + imports_of("from grader.a import f\n", "grader.c", modules))
    assert circles(imports, modules) == {("grader.a", "grader.b")}


# --- the real code ----------------------------------------------------------------------------------


def test_grader_respects_the_layers():
    imports, _ = grader_imports()
    assert layer_violations(imports) == []


def test_no_new_in_function_grader_imports():
    imports, _ = grader_imports()
    lazy = lazy_grader_imports(imports)
    print(f"in-function grader imports left (to be emptied by issue 16): {len(lazy)}")
    for importer, imported in sorted(lazy):
        print(f"  {importer} -> {imported}")
    for gone in sorted(TODAY_IN_FUNCTION - lazy):
        print(f"  moved to the top, drop from TODAY_IN_FUNCTION: {gone}")
    assert sorted(lazy - TODAY_IN_FUNCTION) == [], "import at the top of the module (lazy only for training)"


def test_no_import_circles():
    imports, modules = grader_imports()
    assert sorted(circles(imports, modules)) == [], "import circles between grader modules"


@pytest.mark.parametrize("pair", [("grader.registration", "grader.template")])
def test_registration_and_template_are_no_circle(pair):
    imports, modules = grader_imports()
    assert not any(set(pair) <= set(c) for c in circles(imports, modules))
