"""The package's shape (docs/architecture.md): no import cycles, no module over the size limit,
torch-free modules that stay torch-free, every module in the architecture document."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "memgpt"
DOC = PACKAGE.parent / "docs" / "architecture.md"
MAX_LINES = 420  # "no module over ~400 lines"


def module_files() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every memgpt module ``name`` imports, at the top or inside functions (lazy imports are
    still dependencies), leaving out ``if TYPE_CHECKING:`` blocks and its own submodules."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in mods else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in mods and m != name and not m.startswith(name + ".")}


def import_cycles() -> list[list[str]]:
    mods = module_files()
    graph = {m: imports_of(m, f, mods) for m, f in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strongconnect(v)
    return cycles


def test_no_import_cycles():
    assert import_cycles() == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "memgpt"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from memgpt.sub.b import g\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nfrom memgpt import a\n"
                                      "if TYPE_CHECKING:\n    from memgpt.c import X\n")
    (pkg / "c.py").write_text("from memgpt.a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert import_cycles() == [["memgpt.a", "memgpt.sub.b"]]  # the TYPE_CHECKING edge is no cycle


def test_no_module_over_the_size_limit():
    big = {m: n for m, f in module_files().items()
           if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert big == {}


def test_every_module_is_in_the_architecture_document():
    doc = DOC.read_text()
    rows = set(re.findall(r"^\| `([\w/]+\.py)` \|", doc, re.M))
    missing = []
    for path in module_files().values():
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and len(path.read_text().splitlines()) <= 1:
            continue  # a one-line package docstring that points at the document
        # a row names the file by its path below memgpt/ or by a shorter tail of it; a bare
        # __init__.py is the package's own
        if not any(rel == r or (rel.endswith("/" + r) and r != "__init__.py") for r in rows):
            missing.append(rel)
    assert missing == []


@pytest.mark.parametrize("module", ["memgpt.cli.common", "memgpt.cli.tasks", "memgpt.cli.eval",
                                    "memgpt.cli.chat", "memgpt.cli.train", "memgpt.cli.memory",
                                    "memgpt.tasks.pipeline", "memgpt.export.runtime"])
def test_each_module_imports_on_its_own(module):
    # a fresh interpreter, so an import order that only works after another import is caught
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


def test_torch_free_modules_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import memgpt.tasks.pipeline, memgpt.export.runtime, memgpt.decoding, memgpt.chat\n"
            "import memgpt.tasks.qagen, memgpt.tasks.splits, memgpt.tasks.readers, memgpt.fetch\n")
    subprocess.run([sys.executable, "-c", code], check=True)
