"""The privacy guard (issue 13): a book built from `full` embeds no radiograph read from a
credentialed data root unless the user opts in (`show_real_images: true`)."""
from __future__ import annotations

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
    """A chapter that reads radiographs and draws figures declares `show_real_images` and passes its
    radiographs through `withheld`; `full` sets it false for every chapter that declares it."""
    drawing = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        text = path.read_text()
        if path.name.startswith(("00_", "13_")):  # the synthetic cohort only (not part of full)
            continue
        if READS_IMAGES.search(text) and DRAWS.search(text):
            drawing.append(path.stem)
            assert "show_real_images: bool = True" in text and "withheld(" in text, path.name
    assert len(drawing) >= 7, drawing
    study = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "full" / "_study.yml").read_text())
    assert study["show_real_images"] is False
    steps = {s.name: s for s in Study().resolve("full")}
    assert all(steps[name].params["show_real_images"] is False for name in drawing if name in steps)
