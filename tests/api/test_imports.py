"""How the package imports itself: ``import pmargin`` leaves the reference alone, and the modules of
``python/pmargin`` import each other without a cycle.

The import graph is read from the source with ``ast``: every ``import`` and ``from ... import``
of every module under ``python/pmargin``, at module level or inside a function (a lazy import is
still a dependency), relative ones resolved against the module's package; ``from a import b``
is an edge to ``a.b`` when that is a module, else to ``a``. Imports under ``if TYPE_CHECKING:``
are left out (they never run), and so is the implicit import of a package's ``__init__`` when a
submodule is imported (every module would otherwise depend on ``pmargin/__init__.py``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PYTHON = Path(__file__).resolve().parents[2] / "python"
PACKAGE = PYTHON / "pmargin"
#: Modules that exist without a ``.py`` file: the native extension.
EXTENSIONS = {"pmargin._core"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PYTHON).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module, line) of every import that can run: anywhere in ``source`` except under
    ``if TYPE_CHECKING:``. Targets outside ``pmargin`` are kept too (the caller filters)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.append((full if full in MODULES or full in EXTENSIONS else target, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return out


def internal_imports(name: str) -> list[tuple[str, int]]:
    path = MODULES[name]
    found = imports_of(path.read_text(), name, path.name == "__init__.py")
    return [(t, line) for t, line in found if t == "pmargin" or t.startswith("pmargin.")]


def import_graph() -> dict[str, set[str]]:
    return {name: {t for t, _ in internal_imports(name) if t in MODULES and t != name} for name in sorted(MODULES)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None when it is acyclic."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle is not None:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def test_import_pmargin_does_not_import_the_reference() -> None:
    script = (
        "import sys, pmargin\n"
        "assert 'pmargin.reference' not in sys.modules, sorted(m for m in sys.modules if 'reference' in m)\n"
        "assert callable(pmargin.reference.margin)\n"
        "assert 'pmargin.reference' in sys.modules\n"
        "from pmargin import reference\n"
        "assert reference is pmargin.reference\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "pmargin.reference" in graph and "pmargin.models" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_internal_import_names_a_module_that_exists() -> None:
    """A relative import one level off (``.reference`` for ``..reference``) fails only when it
    runs; here it fails at once."""
    missing = [
        f"{name} line {line}: {target}"
        for name in sorted(MODULES)
        for target, line in internal_imports(name)
        if target not in MODULES and target not in EXTENSIONS
    ]
    assert not missing, "imports of modules that do not exist: " + "; ".join(missing)


def test_the_cycle_check_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    lazy = "def f():\n    from .reference.tables import read_ids\n"
    assert imports_of(lazy, "pmargin.correlation", False) == [("pmargin.reference.tables", 2)]
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .models import GridModel\n"
    assert imports_of(typed, "pmargin.result", False) == [("typing", 1)]
