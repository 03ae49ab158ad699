"""The package's layers (docs/architecture.md), read from the source with ``ast``: no module imports
from a layer above its own, and no import cycle between modules or between packages. An import
inside a function counts as much as one at the top.

STYLEFIT_LAYERS_SRC=<folder holding stylefit/> checks another tree (e.g. an older checkout)."""

import ast
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = Path(os.environ.get("STYLEFIT_LAYERS_SRC", REPO / "src"))

# Bottom to top: a module may import from its own layer and those below it. A module belongs to the
# layer of the longest name that is it or a package above it (the root package "stylefit" only itself).
LAYERS = {
    "core": ["stylefit.core"],
    "data": ["stylefit.data"],
    "models": ["stylefit.models"],
    "training": ["stylefit.training"],
    "strategies": ["stylefit.strategies"],
    "scoring": ["stylefit.scoring"],
    "selection": ["stylefit.selection"],
    "report": ["stylefit.report"],
    "api": ["stylefit.api"],
    "bench": ["stylefit.bench"],
    "entry": ["stylefit", "stylefit.__main__", "stylefit.cli", "stylefit.loop"],
}
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package's __init__)."""
    found = {}
    for path in sorted((src / "stylefit").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def imports(src: Path) -> dict[str, set[str]]:
    """Module -> the stylefit modules it imports anywhere in its text (``from a import b`` names a.b
    where that is a module, else a)."""
    mods = modules(src)

    def known(name: str) -> str:
        while name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, (path, package) in mods.items():
        here = name if package else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                edges |= {known(a.name) for a in node.names if a.name.split(".")[0] == "stylefit"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                if base.split(".")[0] != "stylefit":
                    continue
                edges |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base) for a in node.names}
        graph[name] = edges - {name}
    return graph


def layer(module: str) -> str | None:
    best = max(((len(p), name) for name, prefixes in LAYERS.items() for p in prefixes
                if module == p or (p != "stylefit" and module.startswith(p + "."))), default=None)
    return best[1] if best else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def unit(module: str, package: bool) -> str:
    """The package a module counts in: itself for a top-level module (api, cli, loop), else its package."""
    depth = module.count(".")
    return module if package or depth <= 1 else module.rpartition(".")[0]


def test_every_module_has_a_layer():
    missing = [m for m in modules(SRC) if layer(m) is None]
    assert not missing, "modules in no layer (add them to LAYERS and docs/architecture.md): " + ", ".join(missing)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, targets in imports(SRC).items() for t in sorted(targets)
              if layer(m) and layer(t) and RANK[layer(t)] > RANK[layer(m)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycles_between_modules_or_packages():
    graph = imports(SRC)
    assert not (found := cycles(graph)), "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
    mods = modules(SRC)
    packages: dict[str, set[str]] = {}
    for m, targets in graph.items():
        packages.setdefault(unit(m, mods[m][1]), set()).update(unit(t, mods[t][1]) for t in targets)
    found = cycles({p: targets - {p} for p, targets in packages.items()})
    assert not found, "import cycles between packages: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_architecture_page_lists_the_layers_in_this_order():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("Layers, bottom to top:"))
    assert re.findall(r"`(\w+)`", line) == list(LAYERS)
