"""The book online: `make publish` (ghp-import onto gh-pages) and the GitHub Pages workflow."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_make_publish_puts_the_built_site_on_a_gh_pages_branch(tmp_path):
    recipe = re.search(r"^publish: book\n\t(.+)$", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    assert "ghp-import -n -f" in recipe and recipe.rstrip().endswith("_build/html")
    repo = tmp_path / "study"
    (repo / "_build" / "html" / "book").mkdir(parents=True)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "study")
    (repo / "_build" / "html" / "index.html").write_text("<meta http-equiv='Refresh' content='0; url=book/intro.html'>")
    (repo / "_build" / "html" / "book" / "intro.html").write_text("<h1>RadGazeGen</h1>")
    ghp = Path(sys.executable).with_name("ghp-import")
    subprocess.run([str(ghp), "-n", "-f", "-m", "book", "_build/html"], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})
    files = set(git(repo, "ls-tree", "-r", "--name-only", "gh-pages").split())
    assert files == {".nojekyll", "index.html", "book/intro.html"}  # the site at the branch's root, no Jekyll
    assert git(repo, "branch", "--show-current").strip() == "main"  # the working branch is left as it was


def test_the_pages_workflow_builds_the_committed_edition_with_the_readmes_command():
    flow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    steps = flow["jobs"]["build"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make book"] and "make book" in (REPO / "README.md").read_text()
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert flow["jobs"]["deploy"]["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in flow["jobs"]["deploy"]["steps"])
    assert flow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True


def test_one_repository_setting_turns_the_repository_and_issues_buttons_on(tmp_path):
    from radgazegen.study.publish import book_config

    assert book_config() == REPO / "_config.yml"  # no public repository set: no button, the file as it is
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == "" and config["html"]["use_repository_button"] is False
    config["repository"]["url"] = "https://github.com/example/radgazegen-study"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    built = yaml.safe_load(book_config(tmp_path / "_config.yml", tmp_path / "out.yml").read_text())
    assert built["html"]["use_repository_button"] is True and built["html"]["use_issues_button"] is True
    assert built["repository"]["url"] == "https://github.com/example/radgazegen-study"
    assert built["bibtex_bibfiles"] == config["bibtex_bibfiles"]  # the rest unchanged


def test_the_repository_setting_also_turns_on_launch_buttons_to_the_committed_notebooks(tmp_path):
    from radgazegen.study.launch_buttons import LAUNCH_BUTTONS
    from radgazegen.study.publish import book_config

    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/example/radgazegen-study"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    paths = {"book/chapters/08_table1_fid": "book/smoke/08_table1_fid.ipynb"}
    built = yaml.safe_load(book_config(tmp_path / "_config.yml", tmp_path / "out.yml", launch_paths=paths).read_text())
    assert built["launch_buttons"] == LAUNCH_BUTTONS
    assert built["sphinx"]["extra_extensions"] == ["sphinx-mathjax-offline", "radgazegen.study.launch_buttons"]
    assert built["sphinx"]["config"]["radgazegen_launch_paths"] == paths


def test_a_page_names_the_committed_notebook_it_was_copied_from(tmp_path):
    import nbformat

    from radgazegen.study.publish import reader_first

    committed = [REPO / f for f in git(REPO, "ls-files", "book").split() if re.search(r"/[0-9][0-9]_\w+\.ipynb$", f)]
    assert committed, "no executed chapter is committed under book/<profile>/"
    src = committed[0]
    copy = nbformat.read(str(reader_first(src, tmp_path / src.name)), as_version=4)
    rel = copy.metadata["radgazegen"]["executed_notebook"]
    assert rel == src.relative_to(REPO).as_posix()
    assert rel in git(REPO, "ls-files", "book").split()  # what a launch button opens is in the repository
    paths = [copy.metadata["papermill"][k] for k in ("input_path", "output_path")]
    assert all(p.startswith("runs/") for p in paths), paths  # the page's .ipynb download names no machine path


def test_launch_paths_only_for_pages_whose_notebook_is_committed(tmp_path):
    import json

    from radgazegen.study.publish import launch_paths_of

    repo = tmp_path / "study"
    (repo / "book" / "smoke").mkdir(parents=True)
    (repo / "book" / "chapters").mkdir()
    git(tmp_path, "init", "-q", str(repo))
    (repo / "book" / "smoke" / "08_a.ipynb").write_text("{}")
    git(repo, "add", "book/smoke/08_a.ipynb")
    for name, src in {"08_a": "book/smoke/08_a.ipynb", "09_b": "book/smoke/09_b.ipynb", "10_c": None}.items():
        meta = {"radgazegen": {"executed_notebook": src}} if src else {}
        (repo / "book" / "chapters" / f"{name}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))
    assert launch_paths_of(repo / "book" / "chapters", repo) == {"book/chapters/08_a": "book/smoke/08_a.ipynb"}


def test_a_built_page_launches_its_committed_notebook_and_a_run_page_launches_nothing(tmp_path):
    """A real Jupyter Book build with the extension: the theme's links retargeted, or dropped."""
    import nbformat

    from radgazegen.study.publish import book_config

    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    for name in ("08_committed", "09_of_a_run"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                             nbformat.v4.new_code_cell("1 + 1")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(book / "chapters" / f"{name}.ipynb"))
    (book / "intro.md").write_text("# Study\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - glob: book/chapters/*\n")
    config = {"title": "t", "execute": {"execute_notebooks": "off"}, "only_build_toc_files": True,
              "repository": {"url": "https://github.com/example/radgazegen-study", "branch": "main"}}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    conf = book_config(tmp_path / "_config.yml", tmp_path / "built.yml",
                       launch_paths={"book/chapters/08_committed": "book/smoke/08_committed.ipynb"})
    exe = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(exe), "build", str(tmp_path), "--config", str(conf), "--warningiserror"], check=True,
                   capture_output=True, cwd=tmp_path)
    html = tmp_path / "_build" / "html" / "book" / "chapters"
    page = (html / "08_committed.html").read_text()
    assert "https://mybinder.org/v2/gh/example/radgazegen-study/main?urlpath=lab/tree/book/smoke/08_committed.ipynb" in page
    assert "https://colab.research.google.com/github/example/radgazegen-study/blob/main/book/smoke/08_committed.ipynb" in page
    assert "book/chapters/08_committed.ipynb" not in page.replace("_sources/book/chapters/08_committed.ipynb", "")
    other = (html / "09_of_a_run.html").read_text()
    assert "mybinder.org" not in other and "colab.research" not in other
    assert "github.com/example/radgazegen-study" in other  # the repository button stays


def test_the_committed_edition_alone_has_every_chapter(tmp_path):
    """What the Pages workflow builds from a fresh clone (no run here): every notebook of the study
    as a committed executed chapter, each from a file the repository holds."""
    from radgazegen.study.publish import published_sources
    from radgazegen.study.runner import Study

    sources = published_sources(Study(runs=tmp_path / "no-runs"))
    assert sorted(sources) == sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    tracked = set(git(REPO, "ls-files", "book").split())
    assert all(nb.relative_to(REPO).as_posix() in tracked for _, nb in sources.values())
