"""The package's shape (issue 26): no import circles, one definition of what drifts when written twice."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lskd_core"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at the top or inside functions (a lazy import that
    breaks a circle at run time still ties the two modules together)."""
    mods = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        package = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(p.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            graph[m] |= {t for t in targets if t in mods and t != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_circle_check_finds_a_planted_circle():
    g = import_graph()
    g["lskd_core.paths"] = g["lskd_core.paths"] | {"lskd_core.cache"}  # cache imports paths
    assert ["lskd_core.cache", "lskd_core.paths"] in cycles(g)


def test_leaf_modules_import_nothing_of_the_package():
    g = import_graph()
    for leaf in ("lskd_core.paths", "lskd_core.settings", "lskd_core.proc", "lskd_core.verdicts"):
        assert g[leaf] == set(), (leaf, g[leaf])


def test_the_repository_root_and_results_paths_are_defined_once():
    defs = []
    for p in PKG.rglob("*.py"):
        text = p.read_text()
        if re.search(r"parents\[\d\]|Path\(__file__\)", text) and p.name != "paths.py":
            defs.append(p.name)
        if re.search(r'/ "results"', text) and p.name != "paths.py":
            defs.append(p.name)
    assert defs == [], defs


def test_the_temperature_bound_is_written_once():
    hits = [p.name for p in PKG.rglob("*.py") if re.search(r"\b1000\.0\b|MAX_TEMPERATURE = ", p.read_text())]
    assert hits == ["config.py"], hits


def test_no_module_reexports_the_training_names():
    """Names are imported from where they are defined: train.py re-exports nothing."""
    text = (PKG / "train.py").read_text()
    assert "noqa: F401" not in text


def test_every_chapter_opens_once_with_begin_and_nothing_else_checks_its_parameters():
    from lskd_core.paths import NOTEBOOKS

    for nb in sorted(NOTEBOOKS.glob("*.md")):
        src = nb.read_text()
        assert len(re.findall(r"ex\.begin\(globals\(\)[,)]", src)) == 1, nb.name
        for banned in ("accept(", "validate(", "prof.require(", "ex.setup(", "ex.profile(", "list(prof.seeds)"):
            assert banned not in src, (nb.name, banned)
        # The executor names the chapter and its defaults to the record steps (LSKD_CHAPTER): a chapter
        # that typed its own file name would record under the old name after a rename.
        assert f'"{nb.stem}"' not in src and f"'{nb.stem}'" not in src, nb.name


def test_begin_resolves_the_profile_seeds_and_temperatures_and_refuses_what_the_chapter_cannot_use(monkeypatch):
    import json

    import pytest

    from lskd_core import experiments as ex
    from lskd_core.params import ParameterError
    from lskd_core.profiles import DoesNotApply, get_profile

    declared = {"profile": "tiny", "alpha": 0.1, "seeds": None, "temperatures": None, "scale": None, "data_root": None}
    monkeypatch.setenv("LSKD_CHAPTER_DEFAULTS", json.dumps(declared))
    monkeypatch.setenv("LSKD_CHAPTER_NEEDS", json.dumps(["image"]))
    ns = {**declared, "profile": "smoke", "alpha": "0.2"}  # plain papermill passes strings
    prof = ex.begin(ns)
    smoke = get_profile("smoke")
    assert ns["prof"] is prof and ns["profile"] == "smoke" and ns["alpha"] == 0.2
    assert ns["seeds"] == list(smoke.seeds) and ns["temperatures"] == [int(t) for t in smoke.temperatures]
    with pytest.raises(ParameterError, match="alpha"):
        ex.begin({**declared, "alpha": 1.5})
    monkeypatch.setenv("LSKD_CHAPTER_NEEDS", json.dumps(["translation"]))
    with pytest.raises(DoesNotApply, match="translation"):
        ex.begin({**declared, "profile": "cifar100"})


def test_beta_mixes_the_kd_and_ce_terms_in_one_place():
    """One beta mixer (issue 26): `1 - beta` is computed in losses.kd_parts and nowhere else."""
    import ast

    from lskd_core.paths import PACKAGE

    where = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.left, ast.Constant)
                    and node.left.value == 1 and isinstance(node.right, ast.Name) and node.right.id == "beta"):
                where.append(path.relative_to(PACKAGE).as_posix())
    assert where == ["losses.py"], where
