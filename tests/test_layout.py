"""The house rules: imports go one way, run/ stands alone, and the entry point stays lean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lit_dl"
# What each part of lit_dl may import from lit_dl (errors is everyone's).
ALLOWED = {
    "errors": set(),
    "nets": {"nets"},
    "losses": set(),
    "reference": set(),
    "plots": {"nets"},
    "data": {"data"},
    "tasks": {"tasks", "losses", "nets"},
    "run": {"run"},
    "training": {"training", "run", "data", "tasks", "nets", "losses"},
    "commands": {"commands", "run", "plots"},
    "cli": {"cli", "training", "run", "tasks", "data", "nets", "losses", "commands", "plots"},
    "export": {"export", "cli", "training", "run", "tasks", "data", "commands"},
}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lit_dl."):
            found.add(_part(node.module))
        elif isinstance(node, ast.ImportFrom) and node.module == "lit_dl":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(_part(a.name) for a in node.names if a.name.startswith("lit_dl."))
    return found


def test_imports_go_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        part = relative.parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        allowed = ALLOWED[part] | {"errors", "__init__"}
        wrong += [f"{relative} imports lit_dl.{used}" for used in _imports(path) - allowed]
    assert not wrong, "\n".join(wrong)


def test_nets_never_import_lightning():
    for path in sorted((PACKAGE / "nets").rglob("*.py")):
        assert "lightning" not in path.read_text(), path


def test_the_entry_point_and_commands_load_no_lightning():
    code = (
        "import sys, lit_dl.cli, lit_dl.cli.explain, lit_dl.run.plan, lit_dl.run.reader, lit_dl.commands.compare, lit_dl.commands.sweep;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'torch', 'pytorch_lightning')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_functions_fit_on_a_screen():
    """No function in lit_dl/ is longer than 60 lines, its docstring aside."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                lines = node.end_lineno - (body[0].lineno if body else node.lineno) + 1
                if lines > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)
