"""The reference mirrors the native core stage by stage, and never reaches for the native engine.

- Every module under ``python/pmargin/reference`` names its core counterpart in its docstring, on
  one line ``Mirrors: rust/pmargin-core/src/<path>`` (a file or a folder), and that path exists
  (checked when the checkout has ``rust/``).
- No reference module imports :mod:`pmargin.api`, :mod:`pmargin.engine` or :mod:`pmargin._core`,
  at module level, in a function or for type checking only (read from the source with ``ast``, so
  an import that is never executed by the tests still fails here).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / "python"
REFERENCE = PYTHON / "pmargin" / "reference"
CORE = "rust/pmargin-core/src/"
MIRRORS = re.compile(r"^Mirrors: (\S+)$", re.MULTILINE)
#: What the reference must never import (and nothing below them).
ENGINE_MODULES = ("pmargin.api", "pmargin.engine", "pmargin._core")

MODULES = sorted(REFERENCE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PYTHON).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def mirrored(path: Path) -> list[str]:
    """The paths named by the module docstring's ``Mirrors:`` lines."""
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=True) or ""
    return MIRRORS.findall(doc)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every module an import statement of ``source`` names, anywhere in it, with its line:
    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a
    module or a name); relative imports are resolved against the package of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            out += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return out


def imported(path: Path) -> list[tuple[str, int]]:
    return imports_of(path.read_text(), module_name(path), path.name == "__init__.py")


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_reference_has_modules() -> None:
    assert REFERENCE.is_dir() and len(MODULES) > 1


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_each_reference_module_names_its_core_counterpart(path: Path) -> None:
    named = mirrored(path)
    assert len(named) == 1, f"{relative(path)}: its docstring needs one line 'Mirrors: {CORE}<path>', has {named}"
    assert named[0].startswith(CORE), f"{relative(path)}: {named[0]!r} is not under {CORE}"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_the_core_counterpart_exists(path: Path) -> None:
    if not (REPO / "rust").is_dir():
        pytest.skip("no rust/ folder in this checkout")
    for target in mirrored(path):
        assert (REPO / target).exists(), f"{relative(path)} mirrors {target}, which does not exist"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_the_reference_never_imports_the_native_engine(path: Path) -> None:
    bad = [
        (target, line)
        for target, line in imported(path)
        if any(target == m or target.startswith(m + ".") for m in ENGINE_MODULES)
    ]
    assert not bad, f"{relative(path)} imports the native engine: " + ", ".join(f"{t} (line {n})" for t, n in bad)


def test_the_import_check_sees_every_kind_of_import() -> None:
    """The check itself: relative, absolute and function-level imports of the engine are found."""
    source = (
        "from ...api import margin\n"
        "from ... import _core\n"
        "import pmargin.engine\n"
        "def f():\n"
        "    from ....pmargin import api\n"
    )
    found = {target for target, _ in imports_of(source, "pmargin.reference.methods.fake", False)}
    assert {"pmargin.api", "pmargin._core", "pmargin.engine"} <= found
    assert {t for t, _ in imports_of("from . import grid\n", "pmargin.reference.methods", True)} == {
        "pmargin.reference.methods",
        "pmargin.reference.methods.grid",
    }
