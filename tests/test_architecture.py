"""The package's folders are its layers, and its import arrows run one way:
core -> data -> controls -> models -> generation -> metrics -> figures -> study.

Every module (machinery included) sits in its folder's layer and may import only modules of
its own layer or below, with no import cycle anywhere; the package docstring's module map
names every module. A new folder must be placed in a layer here (the test lists unplaced ones).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "radgazegen"

#: The folders are the layers: a module may import modules of its own folder's layer or below.
LAYERS: dict[str, int] = {
    # 0: foundations: atomic IO, the run directory's artifacts and their per-finding evidence
    # (intervals), vocabularies, the paper's numbers, progress lines; the package's start-up
    "__init__": 0, "_compat": 0, "_startup": 0, "core": 0,
    # 1: data: readers of the real releases, the paper's split, the synthetic cohort
    "data": 1, "synthetic": 1,
    # 2: controls: radiomics maps, HVA maps and masks, lung masks, the map cache, hypotheses;
    # the stand-in networks that hypotheses and metrics share
    "standins": 2, "controls": 2,
    # 3: models: Stable Diffusion parts, the training loop, its objective (Eq. 6), checkpoints, data, launch
    "models": 3,
    # 4: generation: the methods registry and sampling
    "generation": 4,
    # 5: metrics: the paper's metrics, the tables' evaluation, counterfactuals, fidelity, memorisation,
    # the claims ledger, the deviations
    "metrics": 5,
    # 6: figures and what a chapter shows about itself in the book, the course's exercise checks
    "figures": 6,
    # 7: the study's machinery: runner, parameters, cache fingerprints, publishing, benchmarks, installs
    "study": 7,
    # 8: the command line
    "__main__": 8,
}


def module_name(path: Path) -> str:
    """``radgazegen/metrics/evaluation.py`` -> ``metrics.evaluation``; a package's ``__init__`` is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts
    return ".".join(parts)


def layer(module: str) -> int | None:
    return LAYERS.get(module.split(".")[0])


def imports(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports (anywhere in it, deferred imports too), as module names."""
    out = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports for annotations only (if TYPE_CHECKING:) run nothing
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "radgazegen" or len(parts) < 2:
                continue
            dotted = ".".join(parts[1:])
            while dotted and dotted not in known:  # radgazegen.metrics.pointing_game -> metrics
                dotted = dotted.rpartition(".")[0]
            if dotted:
                out.add(dotted)
    return out


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: imports(p, set(files)) - {m} for m, p in files.items()}


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in graph() if layer(m) is None)
    assert not unplaced, f"place these modules in a layer of tests/test_architecture.py: {unplaced}"


def test_imports_point_down_the_layers():
    upward = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
              for m, deps in graph().items() for d in sorted(deps) if layer(d) > layer(m)]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = graph()  # every module, the machinery included
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in g.get(m, ()):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, d]))
            if not state.get(d):
                visit(d, [*stack, m])
        state[m] = 2

    for m in sorted(g):
        if not state.get(m):
            visit(m, [])


def test_the_module_map_names_every_module():
    import radgazegen

    doc = radgazegen.__doc__
    missing = sorted(m for m in graph() if m not in ("__init__", "__main__", "_compat", "_startup")
                     and f"``{m.rpartition('.')[2]}``" not in doc)
    assert not missing, f"add these modules to the module map in radgazegen/__init__.py: {missing}"


def test_no_module_is_over_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these modules (one concern each, <= 400 lines): {long}"
