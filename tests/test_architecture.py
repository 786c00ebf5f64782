"""The layering of docs/architecture.md, checked: import-linter's contracts (pyproject.toml), every
module placed in a layer, no import hidden in a function to dodge a circle, benchmarks kept small."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import tomllib
from conftest import ROOT

FIRST_PARTY = ("gcfa_dgl", "data_prep")


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports") or str(ROOT / ".venv" / "bin" / "lint-imports")
    r = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_every_module_of_the_library_is_in_a_layer():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in cfg if c["type"] == "layers")
    placed = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    modules = {f"gcfa_dgl.{p.stem if p.is_file() else p.name}" for p in (ROOT / "gcfa_dgl").iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert modules - {"gcfa_dgl.conf"} <= placed, sorted(modules - placed)


def function_level_imports(path) -> list[str]:
    """First-party imports inside a function body of one source file: `file:line module`."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.startswith(FIRST_PARTY)]
    return found


def test_no_first_party_import_hides_inside_a_function():
    """Every dependency between the library's modules is a top-level import the contracts see."""
    found = [hit for pkg in FIRST_PARTY for p in sorted((ROOT / pkg).rglob("*.py")) for hit in function_level_imports(p)]
    assert found == [], found


def test_function_level_import_check_sees_one(tmp_path):
    p = ROOT / "tests" / "_probe_module.py"
    try:
        p.write_text("def f():\n    from gcfa_dgl import trainer\n    import os\n")
        assert function_level_imports(p) == ["tests/_probe_module.py:2 gcfa_dgl"]
    finally:
        p.unlink()


def lines(paths) -> int:
    return sum(len(p.read_text().splitlines()) for p in paths)


def test_benchmarks_are_at_most_15_percent_of_the_library():
    library = list((ROOT / "gcfa_dgl").rglob("*.py"))
    bench = [p for p in library if "bench" in p.relative_to(ROOT / "gcfa_dgl").parts]
    assert lines(bench) <= 0.15 * lines(library), (lines(bench), lines(library))


def test_importing_the_library_does_not_import_the_benchmarks():
    code = "import sys, gcfa_dgl.train, gcfa_dgl.evaluate, gcfa_dgl.recommend, gcfa_dgl.report; " \
           "print(sorted(m for m in sys.modules if m.startswith('gcfa_dgl.bench')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
