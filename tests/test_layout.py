"""retrieval/ reads as its pipeline: every import goes down the stages (or stays in its own), none
goes up, there is no import circle, and no module of the core imports Discord."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "retrieval"
#: the data flow, lowest first; a module may import its own stage or one below it
STAGES = ["foundation", "sources", "ingest", "model", "index", "query", "engine", "serve", "cli"]
FOUNDATION = {"types", "errors", "config"}


def stage(module: str) -> str:
    parts = module.split(".")[1:]  # drop "retrieval"
    if not parts or parts[0] in FOUNDATION:
        return "foundation"
    return parts[0]


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        rel = p.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = p
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    """Internal modules ``path`` imports, lazily or not (``from retrieval.x import y`` counts ``y`` when it
    is a module itself)."""
    got = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            got |= {a.name for a in node.names if a.name.startswith("retrieval")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("retrieval"):
            assert node.level == 0, f"{path}: relative import"
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                got.add(sub if sub in known else node.module)
    return {g for g in got if g in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) - {m} for m, p in mods.items()}


def test_stages_are_the_folders():
    assert {stage(m) for m in modules()} == set(STAGES)


def upward(g: dict[str, set[str]]) -> list[str]:
    return [f"{m} → {d}" for m, deps in g.items() for d in deps if STAGES.index(stage(d)) > STAGES.index(stage(m))]


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of two or more modules."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_a_later_stage():
    assert not upward(graph())


def test_no_import_circle():
    assert not circles(graph())


def test_the_core_has_no_discord_import():
    for p in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "discord" or n.startswith("discord.") or n.startswith("bot") for n in names), p


def test_the_checks_catch_a_circle_and_an_upward_import():
    g = {"retrieval.index.build": {"retrieval.query.search"}, "retrieval.query.search": {"retrieval.index.loaded"},
         "retrieval.index.loaded": {"retrieval.index.build"}, "retrieval.config": set()}
    assert circles(g) == [["retrieval.index.build", "retrieval.index.loaded", "retrieval.query.search"]]
    assert upward(g) == ["retrieval.index.build → retrieval.query.search"]
