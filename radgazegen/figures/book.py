"""What the chapters show about themselves in the rendered book: the profile banner, glued
numbers, and a claim's comparisons as a table that fits the column.

Imported by every notebook, so it imports nothing else of the package (a chapter's cache
key follows the modules it imports, ``radgazegen.study.runner``); building the book from the
executed notebooks is ``radgazegen.study.publish``.
"""
from __future__ import annotations

#: What each profile's numbers can support; shown at the top of every chapter.
PROFILE_NOTES = {
    "smoke": (
        "This chapter was executed with the **smoke** profile: CPU, minutes, a small "
        "synthetic cohort and tiny models built from configs. Its numbers prove that the "
        "pipeline is wired end to end; they say nothing about the paper's science."
    ),
    "teach": (
        "This chapter was executed with the **teach** profile: one GPU, under 30 minutes, the "
        "synthetic cohort and small models trained from scratch. Its numbers test the paper's "
        "claims against the cohort's known ground truth (lesion locations, lung masks, labels), "
        "not on real radiographs."
    ),
    "lesson": (
        "This chapter was executed with the **lesson** profile: this book's 2-core CPU, under an "
        "hour, the synthetic cohort at 64 px and small models trained from scratch, run for the "
        "chapters that test the central claim (gaze decides where the finding appears) and the parts of "
        "Tables 2 and 5 its models answer. Its numbers test that claim against the cohort's known lesion "
        "boxes; they are not the paper's values."
    ),
    "full": (
        "This chapter was executed with the **full** profile: the paper's configuration on the "
        "real datasets (MIMIC-CXR, REFLACX, EGD-CXR, CheXpert test, MIMIC-CXR-LT) and Stable "
        "Diffusion v1.5 weights."
    ),
}


def profile_banner(profile: str):
    """A Markdown admonition naming the profile a chapter was executed with (for ``display``)."""
    from IPython.display import Markdown

    if profile not in PROFILE_NOTES:
        raise ValueError(f"profile: unknown profile {profile!r}; expected one of {list(PROFILE_NOTES)}")
    return Markdown(f":::{{admonition}} Profile: {profile}\n:class: note\n{PROFILE_NOTES[profile]}\n:::\n")


#: myst-nb's marker for a glued value that is not displayed where it is computed.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for the chapter's prose (``{glue:text}`name``` or
    ``{glue:}`name```, ``{glue:figure}`` for a figure): the output myst-nb's ``glue`` writes,
    written without importing myst-nb (the book's packages are not installed where chapters
    run on a GPU server; the book is built elsewhere). ``display``: also show it here. A numpy
    scalar is glued as the Python number it holds."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # a numpy scalar reads back as a number ({glue:text}`name:.3f`), not "np.float64(...)"
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def comparison_table(comparisons: list[dict]) -> "pd.DataFrame":
    """One claim's paired differences (``paper_claims.claims``' ``comparisons``) as a table that fits
    the book's column: both terms in full, "A (column) − B (column)" (the second term's column is
    its own: a moved gaze's "gazed box" against "shuffled gaze"), the difference with its 95%
    interval in one cell, whether that interval excludes 0 on the side where A is better, and the
    sample (findings x seeds)."""
    import pandas as pd

    g = lambda v: f"{v:+.3g}"
    return pd.DataFrame([{
        "comparison": f"{c['method']} ({c['column']}) − {c['minus']} ({c.get('minus column', c['column'])})",
        "difference [95% interval]": f"{g(c['difference'])} [{g(c['95% low'])}, {g(c['95% high'])}]",
        "interval favours the first": "yes" if c["favours the method"] else "no",
        "findings × seeds": f"{c['findings']} × {c['seeds']}",
    } for c in comparisons])


def column_parts(frame: "pd.DataFrame", max_columns: int = 7) -> list:
    """``frame``'s columns in equal parts of at most ``max_columns`` (each part keeps the index),
    displayed one under the other: a table wider than the book's column (Table 3's twelve
    findings and their average) is read without scrolling sideways."""
    import math

    n = frame.shape[1]
    if n <= max_columns:
        return [frame]
    size = math.ceil(n / math.ceil(n / max_columns))  # equal parts: 13 columns -> 7 + 6, not 7 + 7 + ...
    return [frame.iloc[:, i:i + size] for i in range(0, n, size)]
