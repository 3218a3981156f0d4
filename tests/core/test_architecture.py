"""Architecture checks on the source tree: no import cycles between evsiting's modules.

The import graph is read from the source with ``ast``: absolute (``evsiting.x``) and relative
(``.x``, ``..x``) imports, at module level and inside functions alike (a late import hides a
cycle from the interpreter, not from the design). ``from pkg import name`` counts as an import
of ``pkg.name`` when that is a module, else of ``pkg``. A module importing its own parent
package is not counted (the package's ``__init__`` runs first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import evsiting

PACKAGE = Path(evsiting.__file__).resolve().parent


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def import_graph(root: Path = PACKAGE) -> nx.DiGraph:
    """Directed graph module -> module it imports, over the modules of the package at ``root``."""
    mods = _modules(root)
    g = nx.DiGraph()
    for name, (path, is_pkg) in mods.items():
        g.add_node(name)
        here = name.split(".") if is_pkg else name.split(".")[:-1]  # package of relative imports
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # ``import evsiting.x.y.name`` -> the module part
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):
                    g.add_edge(name, t)
    return g


def import_cycles(root: Path = PACKAGE) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (sorted)."""
    g = import_graph(root)
    out = []
    for scc in nx.strongly_connected_components(g):
        if len(scc) > 1:
            out.append(next(nx.simple_cycles(g.subgraph(scc))))
    return sorted(out)


def test_import_graph_sees_relative_absolute_and_late_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (pkg / "c.py").write_text("import pkg.a\nx = 1\n")
    g = import_graph(pkg)
    assert {("pkg.a", "pkg.sub.b"), ("pkg.sub.b", "pkg.c"), ("pkg.c", "pkg.a")} <= set(g.edges)
    assert import_cycles(pkg) and sorted(import_cycles(pkg)[0]) == ["pkg.a", "pkg.c", "pkg.sub.b"]


def test_no_import_cycles():
    g = import_graph()
    assert g.number_of_nodes() > 50 and g.number_of_edges() > 200  # the graph was read
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c + [c[0]]) for c in cycles)


#: Module-level containers that functions change, with why their state cannot change a result.
ALLOWED_MODULE_STATE = {
    "evsiting.network.matrix._SCRATCH": "scratch arrays of the Dijkstra, each handed back in its initial state",
    "evsiting.runs.sensitivity._PIPELINES": "the base instance of each (config, prefecture, solver, time limit) in a sensitivity worker process, built once so its variants reuse demand and travel times",
}

_MUTATORS = {"append", "extend", "insert", "pop", "popitem", "clear", "update", "setdefault", "add", "discard", "remove"}


def module_state(root: Path = PACKAGE) -> set[str]:
    """Module-level names bound to a dict/list/set (literal, comprehension or call) that a
    function of the module changes: item assignment or deletion, or a mutating method."""
    out = set()
    for name, (path, _) in _modules(root).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        containers = set()
        for node in tree.body:
            targets, value = [], None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            is_container = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in ("dict", "list", "set", "OrderedDict", "defaultdict"))
            if is_container:
                containers |= {t.id for t in targets if isinstance(t, ast.Name)}
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(fn):
                hit = None
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                    for t in node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]:
                        if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                            hit = t.value.id
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
                    v = node.func.value
                    v = v.value if isinstance(v, ast.Subscript) else v
                    hit = v.id if isinstance(v, ast.Name) else None
                if hit in containers:
                    out.add(f"{name}.{hit}")
    return out


def test_module_state_check_finds_a_cache(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("_CACHE: dict = {}\nKEEP = {'a': []}\n\ndef f(k):\n    _CACHE[k] = 1\n    KEEP['a'].append(k)\n")
    assert module_state(pkg) == {"pkg.m._CACHE", "pkg.m.KEEP"}


def test_no_module_level_cache():
    found = module_state() - set(ALLOWED_MODULE_STATE)
    assert not found, f"module-level state changed by functions (own it in an object instead): {sorted(found)}"
