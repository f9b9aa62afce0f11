"""The package's import arrows run one way: data -> controls -> models -> metrics -> figures.

Each module (a sub-package counts as one) sits in a layer and may import only modules of
its own layer or below, with no import cycles; the runner and its command line are apart.
A new module must be placed in a layer here (the test lists unplaced ones).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "radgazegen"

LAYERS: dict[str, int] = {
    # 0: foundations: atomic IO, the run directory's artifacts (and their per-finding evidence,
    # intervals), vocabularies, the paper's numbers
    "_compat": 0, "_startup": 0, "io": 0, "labels": 0, "paper": 0, "artifacts": 0, "vocabulary": 0, "intervals": 0,
    "progress": 0,
    # 1: data: readers of the real releases, the synthetic cohort, the paper's split
    "data": 1, "synthetic": 1, "split": 1,
    # 2: controls: radiomics maps, HVA maps, lung masks, the map cache
    "controls": 2, "gaze": 2, "segmentation": 2, "cache": 2,
    # 3: models: Stable Diffusion parts, training, generation, methods, stand-ins, hypotheses
    "models": 3, "standins": 3, "training": 3, "training_checkpoints": 3, "training_data": 3, "training_objective": 3,
    "generation": 3, "methods": 3, "hypotheses": 3, "launch": 3,
    # 4: metrics: the paper's metrics, the tables' evaluation, the moved-gaze counterfactuals, fidelity beyond
    # FID (KID, PRDC, FRD; per pathology), the memorisation check
    "metrics": 4, "evaluation": 4, "counterfactual": 4, "fidelity": 4, "memorisation": 4,
    # the claims ledger (claims checked on a run's results) and the deviations read from its parameters
    "ledger": 4, "deviations": 4,
    # 5: figures and what a chapter shows about itself in the book
    "figures": 5, "book": 5, "exercises": 5,
}
APART = {"__init__", "__main__", "runner", "dependencies", "parameters", "runlock", "publish", "bench", "offline", "wheelhouse",
         "slim_wheels", "gpu_run", "course", "preflight", "screenshots", "launch_buttons"}


def top_module(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (top level names under radgazegen), anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "radgazegen" else [])
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "radgazegen" and len(parts) > 1:
                out.add(parts[1])
    return out


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        mod = top_module(path)
        g.setdefault(mod, set()).update(imports(path) - {mod})
    return g


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in graph() if m not in LAYERS and m not in APART)
    assert not unplaced, f"place these modules in a layer of tests/test_architecture.py: {unplaced}"


def test_imports_point_down_the_layers():
    upward = [f"{m} (layer {LAYERS[m]}) imports {d} (layer {LAYERS.get(d, 'apart')})"
              for m, deps in graph().items() if m in LAYERS for d in sorted(deps)
              if d in APART or LAYERS.get(d, 99) > LAYERS[m]]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = {m: {d for d in deps if d in LAYERS} for m, deps in graph().items() if m in LAYERS}
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
