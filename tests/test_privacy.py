"""The privacy guard (issue 13): a book built from `full` embeds no radiograph read from a
credentialed data root unless the user opts in (`show_real_images: true`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import yaml

from radgazegen.figures import withheld
from radgazegen.study.runner import Study

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
READS_IMAGES = re.compile(r"load_image\(|read_gray\(|to_uint8\(batch\.pixel_values|radiograph\(|gen\.real|\breal\[")
DRAWS = re.compile(r"image_grid\(|draw_reading\(")


def test_withheld_panels_carry_nothing_of_the_image():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (2, 64, 48), dtype=np.uint8)
    assert withheld(a, True) is a  # shown as is when allowed
    wa, wb = withheld(a, False), withheld(b, False)
    assert wa.shape == a.shape and wa.dtype == a.dtype and np.array_equal(wa, wb)  # the same panel whatever the image
    assert set(np.unique(wa)) == {0, 128}
    stack = withheld(np.stack([a, b]), False)
    assert stack.shape == (2, 64, 48) and np.array_equal(stack[0], wa)
    assert [w.shape for w in withheld([a, b[:32]], False)] == [(64, 48), (32, 48)]
    assert withheld(np.zeros((8, 8), np.float32) + 0.9, False).max() == np.float32(0.5)


def test_full_withholds_radiographs_in_every_chapter_that_draws_them():
    """A chapter whose figures show radiographs declares `show_real_images` and hands it on (to
    `withheld` or to a package figure function); every package figure function that takes the
    flag passes its radiographs through `withheld`; `full` sets it false for every chapter."""
    declared = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        text = path.read_text()
        if "show_real_images: bool = True" in text:
            declared.append(path.stem)
            assert len(re.findall(r"\bshow_real_images\b", text)) >= 2, f"{path.name}: declared, never used"
        elif READS_IMAGES.search(text) and DRAWS.search(text) and not path.name.startswith(("00_", "13_")):
            raise AssertionError(f"{path.name} draws radiographs without show_real_images")
    # the chapters whose figures show radiographs read from the data roots (00 and 13: the synthetic cohort only)
    assert {"01", "02", "03", "04", "05", "06", "07", "12", "15"} <= {d[:2] for d in declared}, declared
    takes_flag = []
    for path in (NOTEBOOKS.parent / "radgazegen" / "figures").glob("*.py"):
        for fn in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)):
            if {"show", "show_real_images"} & {a.arg for a in fn.args.args} and fn.name != "withheld":
                takes_flag.append(fn.name)
                calls = {getattr(c.func, "id", getattr(c.func, "attr", "")) for c in ast.walk(fn) if isinstance(c, ast.Call)}
                assert calls & {"withheld", "real_radiographs"}, f"{path.name}: {fn.name} takes the flag, never withholds"
    assert len(takes_flag) >= 5, takes_flag
    study = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "full" / "_study.yml").read_text())
    assert study["show_real_images"] is False
    steps = {s.name: s for s in Study().resolve("full")}
    assert all(steps[name].params["show_real_images"] is False for name in declared if name in steps)
