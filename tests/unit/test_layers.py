"""The import rule of the package layout (ARCHITECTURE.md), checked on every import statement.

Layers: the leaves ``types``, ``measures``, ``registry`` and ``io`` import no other qrexp module
(``io`` may use ``types``); ``engine``, ``data`` and ``runs`` import only the leaves; ``heads`` adds
engine and data; ``evals`` adds heads; ``report`` imports leaves, runs and heads; ``experiment``
imports everything and is imported only by ``qrexp.__main__``. Besides the layers: no import cycle
between modules, no qrexp import inside a function, and no private name imported across modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "qrexp"
LEAVES = {"types", "measures", "registry", "io"}
ALLOWED = {
    "types": set(), "measures": set(), "registry": set(), "io": {"types"},
    "engine": LEAVES, "data": LEAVES, "runs": LEAVES,
    "heads": LEAVES | {"engine", "data"},
    "evals": LEAVES | {"engine", "data", "heads"},
    "report": LEAVES | {"runs", "heads"},
    "experiment": LEAVES | {"engine", "data", "heads", "evals", "runs", "report"},
    "__init__": {"types", "engine"}, "__main__": {"experiment"},
}
KNOWN_VIOLATIONS: set[str] = set()     # must stay empty


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def imports(module: str, path: Path):
    """(line, imported qrexp module, imported names, at function level) for each import."""
    tree = ast.parse(path.read_text(), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    top = {id(n) for n in tree.body} | {id(n) for stmt in tree.body if isinstance(stmt, (ast.If, ast.Try))
                                        for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                if node.level else node.module
            if base and base.split(".")[0] == "qrexp":
                yield node.lineno, base, [a.name for a in node.names], id(node) not in top
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "qrexp":
                    yield node.lineno, alias.name, [], id(node) not in top


def violations() -> list[str]:
    mods = modules()
    out, graph = [], {m: set() for m in mods}
    for module, path in sorted(mods.items()):
        for line, target, names, nested in imports(module, path):
            targets = [f"{target}.{n}" if f"{target}.{n}" in mods else target for n in names] or [target]
            where = f"{path.relative_to(PACKAGE.parent)}"      # no line number: stable keys
            for t in targets:
                if layer(t) not in ALLOWED[layer(module)] and layer(t) != layer(module):
                    out.append(f"{where}: {layer(module)} may not import {t}")
                if t != module and t in mods:
                    graph[module].add(t)
            if nested:
                out.append(f"{where}: function-level import of {target}")
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    out.append(f"{where}: private name {n} imported from {target}")
    out += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer():
    assert {layer(m) for m in modules()} <= set(ALLOWED)


def test_imports_follow_the_layer_rule():
    found = set(violations())
    assert found - KNOWN_VIOLATIONS == set(), "\n".join(sorted(found - KNOWN_VIOLATIONS))


def test_no_stale_known_violation():
    stale = KNOWN_VIOLATIONS - set(violations())
    assert not stale, "fixed: remove from KNOWN_VIOLATIONS:\n" + "\n".join(sorted(stale))
