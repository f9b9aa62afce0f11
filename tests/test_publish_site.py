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
    from radgazegen.publish import book_config

    assert book_config() == REPO / "_config.yml"  # no public repository set: no button, the file as it is
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == "" and config["html"]["use_repository_button"] is False
    config["repository"]["url"] = "https://github.com/example/radgazegen-study"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    built = yaml.safe_load(book_config(tmp_path / "_config.yml", tmp_path / "out.yml").read_text())
    assert built["html"]["use_repository_button"] is True and built["html"]["use_issues_button"] is True
    assert built["repository"]["url"] == "https://github.com/example/radgazegen-study"
    assert built["bibtex_bibfiles"] == config["bibtex_bibfiles"]  # the rest unchanged
