"""Launch buttons (Binder, Colab) that open the notebook a page was rendered from, in the repository.

The book's pages are copies made at build time (``book/chapters/``, git-ignored), so the launch
links sphinx-book-theme builds from a page's own path would open a file the repository does not
hold. This Sphinx extension runs after the theme's ``add_launch_buttons`` and points each launch
link at the executed notebook the page was copied from, committed under ``book/<profile>/``
(``radgazegen_launch_paths``: page name -> path in the repository, written by
``publish.book_config``); a page whose notebook is not committed (a chapter of this machine's
run) gets no launch button rather than a broken one.

A launched chapter is the executed notebook as the book shows it; rerunning its cells needs the
run directory of the chapters upstream of it, which ``python -m radgazegen run --profile PROFILE
--only NN`` makes in the launched session (README, on the book's buttons).
"""
from __future__ import annotations

from typing import Any

#: The launch services turned on by the one repository setting (``repository.url``); an explicit
#: ``launch_buttons`` block in ``_config.yml`` is kept as written.
LAUNCH_BUTTONS = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                  "colab_url": "https://colab.research.google.com"}


def page_source(app, pagename: str) -> str:
    """The repository path sphinx-book-theme writes into a launch link for ``pagename``."""
    options = app.config["html_theme_options"]
    prefix = options.get("path_to_docs", "").strip("/")
    return f"{prefix + '/' if prefix else ''}{pagename}.ipynb"


def retarget_launch_buttons(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """``html-page-context`` handler: rewrite the page's launch links to its committed notebook,
    or drop the launch group when the page has none."""
    buttons = context.get("header_buttons")
    if not buttons:
        return
    target = (app.config.radgazegen_launch_paths or {}).get(pagename)
    own = page_source(app, pagename)
    for group in [b for b in buttons if b.get("type") == "group" and b.get("label") == "launch-buttons"]:
        if target is None:
            buttons.remove(group)
            continue
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(own, target)


def setup(app) -> dict:
    app.add_config_value("radgazegen_launch_paths", {}, "html", types=[dict])
    app.connect("html-page-context", retarget_launch_buttons, priority=502)  # after the theme's (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
