"""The package's shape: no two modules import each other, each name is imported once, and
the model file holds the architecture only (its input checks live in minibert.validation)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minibert"


def minibert_imports(path: Path) -> set[str]:
    """The minibert modules `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minibert"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("minibert"))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in minibert_imports(p) if m in modules and m != name} for name, p in modules.items()}
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}  # a package's __init__
    cycles = sorted((a, b) for a, deps in graph.items() for b in deps if a < b and a in graph.get(b, ()))
    assert cycles == []


def test_config_does_not_reach_into_weights():
    assert "minibert.weights" not in minibert_imports(PACKAGE / "config.py")
    assert "minibert.fileio" in minibert_imports(PACKAGE / "config.py")


def test_the_package_imports_each_public_name_once():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    names = Counter(a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names)
    assert [name for name, n in names.items() if n > 1] == []


def test_the_model_file_is_the_architecture_and_the_checks_live_apart():
    defined = {n.name for n in ast.parse((PACKAGE / "model.py").read_text(encoding="utf-8")).body
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert not {"check_inputs", "check_packed_inputs", "_check_range"} & defined
    from minibert import validation

    assert callable(validation.check_inputs) and callable(validation.check_packed_inputs)
