"""What a step of the runner depends on, found without running it.

- ``PackageModules``: the package modules a notebook imports (statically, ``ast``), with a
  digest of each module's source and the package data files it names;
- ``StepChecks``: why a step of a profile is stale (the first reason), or None when current;
- ``ArtifactDigests``: sha256 of the artifacts under a run directory (files or folders),
  cached by path, size and modification time in ``.state/digests.json``.

``radgazegen.study.runner`` compares both with what a step's last successful run recorded.
"""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from radgazegen.core.io import write_json

if TYPE_CHECKING:  # the runner's types, for annotations only (the runner imports this module)
    from radgazegen.study.runner import Step, Study

#: Version of the ``.state/<step>.json`` layout; other versions are stale.
STATE_FORMAT = 2


class ArtifactDigests:
    """sha256 of artifacts under a run directory: a file's bytes, or a folder's files (sorted
    relative paths and contents). Per-file digests are cached in ``.state/digests.json``,
    keyed by path, size and modification time, so large checkpoints are hashed once."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.file = self.run_dir / ".state" / "digests.json"
        try:
            self.cache: dict[str, dict] = json.loads(self.file.read_text()) if self.file.is_file() else {}
        except json.JSONDecodeError:
            self.cache = {}
        self.changed = False
        self.memo: dict[str, str | None] = {}

    def of(self, rel: str) -> str | None:
        """Digest of ``rel`` (relative to the run directory), None when it does not exist."""
        if rel not in self.memo:
            path = self.run_dir / rel
            if path.is_file():
                self.memo[rel] = self._file(path)
            elif path.is_dir():
                h = hashlib.sha256()
                for f in sorted(p for p in path.rglob("*") if p.is_file() and not _temporary(p)):
                    h.update(f.relative_to(path).as_posix().encode() + b"\0" + self._file(f).encode() + b"\0")
                self.memo[rel] = h.hexdigest()
            else:
                self.memo[rel] = None
        return self.memo[rel]

    def _file(self, path: Path) -> str:
        st = path.stat()
        try:
            key = path.relative_to(self.run_dir).as_posix()
        except ValueError:
            key = str(path.resolve())
        hit = self.cache.get(key)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return hit["sha256"]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        self.cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}
        self.changed = True
        return h.hexdigest()

    def save(self) -> None:
        if self.changed:
            kept = {k: v for k, v in self.cache.items() if (self.run_dir / k).is_file()}
            write_json(self.file, kept)
            self.changed = False


def _temporary(path: Path) -> bool:
    """A leftover of an interrupted atomic write (``radgazegen.core.io``): not content."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


class PackageModules:
    """The package's modules a notebook imports, found statically (``ast``; nothing runs).

    Import statements anywhere in a file count (also inside functions): ``import pkg.x``,
    ``from pkg import x, y``, ``from pkg.x import name`` (a submodule when ``name`` is
    one), relative imports, and string literals naming a module (``importlib``).
    Importing a module imports its parent packages too. A module's digest covers its
    code (``code_of``: docstrings and comments left out) and the package data files whose names
    appear as string literals in it.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.name = self.root.name
        self._imports: dict[str, set[str]] = {}
        self._digests: dict[str, str] = {}
        self._data: list[Path] | None = None

    def file(self, module: str) -> Path | None:
        """The source file of dotted ``module``, None when it is not a module of the package."""
        parts = module.split(".")
        if parts[0] != self.name or not all(p.isidentifier() for p in parts):
            return None
        base = self.root.joinpath(*parts[1:])
        for f in ((base / "__init__.py",) if len(parts) == 1 else (base.with_suffix(".py"), base / "__init__.py")):
            if f.is_file():
                return f
        return None

    def imported_by(self, notebook: Path) -> set[str]:
        """Package modules ``notebook`` imports, transitively."""
        try:
            tree = ast.parse(notebook.read_bytes(), filename=str(notebook))
        except SyntaxError:  # cannot tell: depend on the whole package
            return {m for m in self._all() if self.file(m)}
        todo = self._found(tree, None)
        seen: set[str] = set()
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo |= self._imports_of(m) - seen
        return seen

    def digests(self, modules: Iterable[str]) -> dict[str, str]:
        return {m: self.digest(m) for m in sorted(modules)}

    def digest(self, module: str) -> str:
        if module not in self._digests:
            f = self.file(module)
            tree = self._tree(module)  # parsed for this digest alone: code_of may strip it
            strings = _string_literals(tree)
            h = hashlib.sha256(code_of(tree).encode())  # what the code does, not how it is written
            for d in self._data_files():
                names = {d.name, d.relative_to(self.root).as_posix()}
                try:
                    names.add(d.relative_to(f.parent).as_posix())
                except ValueError:
                    pass
                if names & strings:
                    h.update(b"\0" + d.relative_to(self.root).as_posix().encode() + b"\0" + d.read_bytes())
            self._digests[module] = h.hexdigest()
        return self._digests[module]

    # ---------------------------------------------------------------- internals
    def _all(self) -> list[str]:
        out = []
        for f in sorted(self.root.rglob("*.py")):
            parts = f.relative_to(self.root).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out.append(".".join((self.name, *parts)))
        return out

    def _data_files(self) -> list[Path]:
        if self._data is None:
            self._data = sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
                                and "__pycache__" not in p.relative_to(self.root).parts)
        return self._data

    def _tree(self, module: str) -> ast.AST:
        f = self.file(module)
        try:
            return ast.parse(f.read_bytes(), filename=str(f))
        except SyntaxError:
            return ast.Module(body=[], type_ignores=[])

    def _imports_of(self, module: str) -> set[str]:
        if module not in self._imports:
            is_package = self.file(module).name == "__init__.py"
            self._imports[module] = self._found(self._tree(module), module, is_package)
        return self._imports[module]

    def _found(self, tree: ast.AST, module: str | None, is_package: bool = False) -> set[str]:
        """Package modules named by the imports in ``tree`` (the source of ``module``, or a notebook)."""
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found |= self._with_parents(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if module is None:
                        continue
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    if not base:
                        continue
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found |= self._with_parents(target)
                for alias in node.names:
                    if self.file(f"{target}.{alias.name}"):
                        found.add(f"{target}.{alias.name}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and self.file(node.value):
                found |= self._with_parents(node.value)
        return found

    def _with_parents(self, dotted: str) -> set[str]:
        parts = dotted.split(".")
        return {m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if self.file(m)}


def code_of(tree: ast.AST) -> str:
    """The module's code without its docstrings and comments: the AST, docstrings removed, dumped
    without line numbers. A docstring or comment edit leaves a module's digest (and every model
    trained on it) current; any change to what the code does changes it. The docstrings are
    removed from ``tree`` itself (a copy cost more than the parse: pass a tree of your own)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _string_literals(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


class StepChecks:
    """Staleness of one resolved profile's steps, memoised until ``forget`` (after a step ran)."""

    def __init__(self, study: Study, profile: str, steps: list[Step]):
        self.study, self.profile = study, profile
        self.steps = {s.name: s for s in steps}
        self.reasons: dict[str, str | None] = {}
        self.digests = ArtifactDigests(study.run_dir(profile))

    def forget(self) -> None:
        self.digests.save()
        self.reasons.clear()
        self.digests = ArtifactDigests(self.study.run_dir(self.profile))

    def reason(self, step: Step) -> str | None:
        if step.name not in self.reasons:
            self.reasons[step.name] = self._reason(step)
        return self.reasons[step.name]

    def _reason(self, step: Step) -> str | None:
        sf = self.study.state_file(self.profile, step.name)
        if not sf.exists():
            return "never run"
        if not self.study.executed(self.profile, step.name).exists():
            return "executed notebook missing"
        try:
            state = json.loads(sf.read_text())
        except json.JSONDecodeError:
            return "state unreadable"
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            return "state from an older runner"
        if state.get("source") != step.source:
            return "source changed"
        if state.get("params_digest") != step.params_digest:
            return "parameters changed"
        before = state.get("modules") or {}
        for module in sorted(set(before) | set(step.modules)):
            if before.get(module) != step.modules.get(module):
                return f"{module} changed"
        reads = state.get("reads") or {}
        for r in sorted(reads.values(), key=lambda r: r["path"]):
            now = self.digests.of(r["path"])
            if now != r.get("sha256"):
                return f"{r['path']} {'is missing' if now is None else 'changed'}"
        for writer in sorted({r["writer"] for r in reads.values()}):
            if writer in self.steps and writer in step.ancestors and self.reason(self.steps[writer]) is not None:
                return f"upstream {writer} is stale"
        return None
