"""No import cycles in fdiff: the static graph of every ``import fdiff...`` statement, at module
level or inside a function (a lazy import hides a cycle, it does not remove it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fdiff

ROOT = Path(fdiff.__file__).parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The fdiff modules that ``path`` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in modules and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_fdiff_has_no_import_cycle():
    files = module_files()
    assert {"fdiff.model.build", "fdiff.model.factorized", "fdiff.model.hierarchical"} <= set(files)
    graph = {m: imports_of(m, p, set(files)) for m, p in files.items()}
    # the graph sees real imports
    assert "fdiff.model.factorized" in graph["fdiff.model.hierarchical"]
    assert cycles(graph) == []


# What each room may import besides itself: the networks and the noise process stand alone, so
# that another project can take them without training, the workflow or the benchmarks.
ALLOWED = {
    "fdiff.model": {"fdiff.config", "fdiff.errors"},
    "fdiff.diffusion": {"fdiff.config", "fdiff.errors", "fdiff.progress"},
}


def test_the_model_and_the_noise_process_stand_alone():
    files = module_files()
    for room, allowed in ALLOWED.items():
        members = [m for m in files if m == room or m.startswith(room + ".")]
        assert members, room
        for m in members:
            outside = {i for i in imports_of(m, files[m], set(files)) if not i.startswith(room)}
            assert outside <= allowed, f"{m} imports {sorted(outside - allowed)}"


def _heavy_imports(modules: list[str], heavy: set[str]) -> list[str]:
    """The packages of `heavy` that importing `modules` loads, in a fresh interpreter."""
    code = f"import sys, {', '.join(modules)}; print(*{{m.split('.')[0] for m in sys.modules}})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return sorted(heavy & set(r.stdout.split()))


def test_the_plan_imports_no_numeric_stack():
    """The Snakefile imports fdiff.plan at parse time, in an environment that may hold only
    Snakemake and PyYAML (tests/workflow/test_envs.py); `fdiff status` runs on a login node."""
    plan = sorted(m for m in module_files() if m.startswith("fdiff.plan"))
    assert _heavy_imports(plan, {"torch", "numpy", "pandas"}) == []


def test_the_torch_free_modules_import_no_torch():
    """``fdiff status`` and ``fdiff train-attempt`` (with its signal recorder) run beside
    training and on login nodes: importing torch would cost seconds per call, or fail."""
    torch_free = ["fdiff.training.signals", "fdiff.training.attempt", "fdiff.cli.attempt"]
    assert _heavy_imports(torch_free, {"torch"}) == []
