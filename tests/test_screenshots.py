"""make screenshots: a page through headless Chromium (skipped where Debian's chromium is absent)."""
from __future__ import annotations

import re
import shutil

import cv2
import numpy as np
import pytest

from radgazegen.study import screenshots


def test_trim_cuts_below_the_main_columns_last_line():
    image = np.full((1000, 100, 3), 255, np.uint8)
    image[:, 5] = 0  # a sidebar border the whole height
    image[300:310, 40:60] = 0  # the last text of the main column
    assert screenshots.trim(image, margin=20).shape == (329, 100, 3)
    image[990:995, 30:70] = 0  # a footer at the bottom of a tall window, far below the content
    assert screenshots.trim(image, margin=20, gap=500).shape == (329, 100, 3)


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_a_page_is_shot_whole_and_trimmed(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body style='margin:0'><div style='height:3000px;background:#fff'></div>"
                    "<p style='margin-left:45%;font-size:40px'>end of the page</p></body></html>")
    (shot,) = screenshots.shoot([page], tmp_path / "shots", width=800, height=6000)
    image = cv2.imread(str(shot))
    assert image.shape[1] == 800 and 3000 < image.shape[0] < 3200  # the whole page, white below it cut


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_width_probe_names_what_a_reader_would_scroll_sideways(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body><article><div class='cell_output' style='width:300px;overflow-x:auto'>"
                    "<pre>" + "x" * 400 + "</pre></div><div class='cell_output' style='width:300px'>short</div>"
                    "<table style='width:100px'><tr><td>fits</td></tr></table></article></body></html>")
    (found,) = screenshots.wide_elements([page], width=800)["page"]  # the long line; the short ones fit
    assert re.fullmatch(r"output \((\d+) px over\): x{60}", found) and int(found.split("(")[1].split()[0]) > 100
    assert not list(tmp_path.glob(".probe-*"))  # the probe copy is gone


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_open_code_is_probed_and_the_books_css_wraps_it(tmp_path):
    """An exercise's code is shown open: a long line scrolls sideways (the theme's pre) unless the
    book's _static/study.css wraps it; folded code (a closed <details>) is not a reader's problem."""
    from pathlib import Path

    css = Path(screenshots.REPO / "_static" / "study.css").resolve().as_uri()
    line = "def fuse_residuals(" + ", ".join(f"argument_{i}: float" for i in range(30)) + "): pass"
    cell = ("<div class='cell tag_exercise'><div class='cell_input'><div class='highlight'>"
            f"<pre style='overflow-x:auto'>{line}</pre></div></div></div>")
    folded = f"<div class='cell'><details><summary>code</summary>{cell.replace('tag_exercise', '')}</details></div>"
    body = f"<article style='width:600px'>{cell}{folded}</article></body></html>"
    bare, styled = tmp_path / "bare.html", tmp_path / "styled.html"
    bare.write_text("<html><body>" + body)
    styled.write_text(f"<html><head><link rel='stylesheet' href='{css}'></head><body>" + body)
    found = screenshots.wide_elements([bare, styled], width=800)
    assert list(found) == ["bare"] and len(found["bare"]) == 1  # the open cell only, not the folded copy
    assert found["bare"][0].startswith("code (") and "def fuse_residuals(argument_0" in found["bare"][0]
