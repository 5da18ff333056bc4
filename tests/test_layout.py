"""The house rules: imports go one way (between packages and inside them), run/ stands alone,
the entry point stays lean, and other libraries' internals are touched in lit_dl/internals.py
only."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lit_dl"
INTERNALS = PACKAGE / "internals.py"
# What each part of lit_dl may import from lit_dl (errors and internals are everyone's).
ALLOWED = {
    "errors": set(),
    "internals": set(),
    "nets": {"nets"},
    "losses": set(),
    "reference": set(),
    "plots": {"nets", "run"},
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
        allowed = ALLOWED[part] | {"errors", "internals", "__init__"}
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


# -- inside a package: no cycles, not even through an import inside a function ------------------
def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (PACKAGE.parent / relative / "__init__.py").is_file()


def _edges(path: Path) -> set[str]:
    """Every lit_dl module `path` imports, at its top or inside a function; `from pkg import name`
    counts as importing pkg.name when that is a module, else pkg itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lit_dl":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if _is_module(child) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "lit_dl")
    return found


def test_no_import_cycles_even_inside_functions():
    graph = {_module_name(path): _edges(path) for path in PACKAGE.rglob("*.py")}
    cycles, done, stack = [], set(), []

    def visit(module: str) -> None:
        if module in stack:
            cycles.append(" -> ".join([*stack[stack.index(module):], module]))
            return
        if module in done:
            return
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        stack.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not cycles, "\n".join(cycles)


# -- other libraries' internals: only through lit_dl/internals.py -----------------------------
def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_private_names() -> set[str]:
    """Private names lit_dl itself defines: its functions, classes, attributes and constants."""
    own = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
    return {name for name in own if _is_private(name)}


def _private_uses(path: Path, own: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in own:
            found.append(f"{where} .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr", "delattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                if _is_private(node.args[1].value) and node.args[1].value not in own:
                    found.append(f"{where} {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and node.module:
            foreign = node.module.split(".")[0] != "lit_dl" or node.module.count(".") and any(_is_private(p) for p in node.module.split("."))
            found += [f"{where} from {node.module} import {a.name}" for a in node.names if _is_private(a.name) and (foreign or not _same_package(path, node.module))]
            if node.module.split(".")[0] != "lit_dl" and any(_is_private(part) for part in node.module.split(".")):
                found.append(f"{where} from {node.module} (a private module)")
    return found


def _same_package(path: Path, module: str) -> bool:
    return module.split(".")[:2] == _module_name(path).split(".")[:2]


def test_private_names_of_other_libraries_only_in_internals():
    own = _own_private_names()
    found = [use for path in sorted(PACKAGE.rglob("*.py")) if path != INTERNALS for use in _private_uses(path, own)]
    assert not found, "use lit_dl/internals.py for these:\n" + "\n".join(found)


def test_no_class_overrides_or_sets_a_private_name_of_a_library_class():
    """A lit_dl subclass of a library class must not override a private method or set a private
    attribute of its base: that is a use of the library's internals too."""
    found = []
    for path in sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py"):
        module = importlib.import_module(_module_name(path))
        for cls in [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]:
            foreign = [base for base in cls.__mro__[1:] if not base.__module__.startswith("lit_dl") and base is not object]
            mine = {name for name in vars(cls) if _is_private(name) and name != "_abc_impl"} | _assigned_on_self(cls)
            for base in foreign:
                try:
                    source = inspect.getsource(base)
                except (OSError, TypeError):
                    source = ""
                found += [f"{cls.__module__}.{cls.__name__}.{name} ({base.__module__}.{base.__name__})"
                          for name in mine if name in vars(base) or f"self.{name}" in source]
    assert not found, "\n".join(sorted(set(found)))


def _assigned_on_self(cls: type) -> set[str]:
    try:
        tree = ast.parse(inspect.getsource(cls).strip())
    except (OSError, TypeError, SyntaxError, IndentationError):
        return set()
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self" and _is_private(node.attr)}


def test_contributing_lists_every_private_use():
    from lit_dl.internals import PRIVATE_USES

    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text()
    listed = text.split("## Other libraries' internals", 1)[1].split("\n## ", 1)[0]
    for name, what in PRIVATE_USES.items():
        assert f"`{name}`" in listed and what in listed, f"CONTRIBUTING.md misses {name}: {what}"
    named = {line.split("`")[1] for line in listed.splitlines() if line.startswith("- `")}
    assert named == set(PRIVATE_USES), named ^ set(PRIVATE_USES)


def test_contributing_map_matches_the_tree():
    """CONTRIBUTING.md's map names every package and top-level module, and every module of the
    packages whose files it lists (run/, training/, cli/); it names nothing that is gone."""
    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text()
    block = text.split("## The map of the house", 1)[1].split("```", 2)[1]
    top, inside = set(), {}
    current = None
    for line in block.splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            current = line.split()[0]
            top.add(current)
        elif line.startswith("    ") and current:
            inside.setdefault(current.rstrip("/"), set()).update(w for w in line.split() if w.endswith(".py"))
    tree_top = {p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    tree_top |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert top == tree_top, f"map: {sorted(top ^ tree_top)}"
    for package in ("run", "training", "cli"):
        files = {p.name for p in (PACKAGE / package).glob("*.py")} - {"__init__.py", "__main__.py"}
        listed = inside.get(package, set()) - {"__init__.py"}
        assert listed == files, f"{package}/: {sorted(listed ^ files)}"
