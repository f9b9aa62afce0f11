"""The study's runner: executes the notebooks of one parameter profile with papermill.

``python -m radgazegen run --profile NAME [--only NOTEBOOK ...] [-p key=value ...]``

- A *step* is a jupytext percent script ``notebooks/NN_name.py`` that has a parameters
  file ``params/<profile>/NN_name.yml``. A profile runs its steps in file-name order;
  a notebook without a parameters file in a profile is not part of that profile (the
  synthetic cohort, for example, is not generated in ``full``). Adding a notebook =
  adding its file and its parameters files.
- Parameters: the notebook's tagged ``parameters`` cell holds the defaults; the profile's
  shared file ``params/<profile>/_study.yml`` (the study's constants, e.g. the HVA
  sigma and lambda: set once, given to every notebook that declares them) and then the
  notebook's own YAML file override them (a key may be in only one of the two); ``-p key=value`` (every notebook declaring ``key``) or
  ``-p NN_name.key=value`` (that notebook only) override the file. Values are parsed as
  YAML and checked against the annotated type of the parameters cell. String values may
  use ``{run_dir}`` and ``{repo}`` placeholders. Every step also receives ``profile``
  and ``run_dir``.
- Upstream: the steps named in the notebook's jupytext metadata
  (``radgazegen: {upstream: [...]}``), else all earlier steps. While a step runs, the
  runner sets ``RADGAZEGEN_STEP=<step>``; ``radgazegen.artifacts`` then records each
  cross-chapter artifact the step reads in ``.state/reads/<step>.json`` (name -> path
  relative to the run directory, writer). After the step succeeds, every recorded read
  whose writer is a step of the profile must be written by the step itself or by one of
  its (transitive) upstream steps, else the run stops with a ``RunnerError`` (writers
  that are not steps of the profile, such as the cohort in ``full``, are external inputs;
  the executed notebook is then kept as ``notebooks/NN_name.failed.ipynb``).
- Caching: a step is current when, compared with its last successful run, nothing it
  depends on changed: its source, its resolved parameters, the source of each package
  module it imports (found statically in the notebook, then transitively in the modules;
  a module's source includes the package data files it names, e.g. ``paper_values.yaml``),
  and the content of each artifact it read (as recorded by ``radgazegen.artifacts``; a
  file read any other way is not tracked): sha256 of the file, or of a folder's files,
  cached in ``.state/digests.json`` by size and modification time. A step
  is also stale while the writer of an artifact it read is stale. An edit to a package
  module that a chapter does not import re-runs nothing. Steps run in order, and a
  step's staleness is decided once its upstream steps have finished: an upstream step
  that re-ran but wrote the same bytes leaves it current. ``status`` names the first
  reason a step is stale; ``--force`` runs current steps too.
- Outputs: one run directory per profile, ``runs/<profile>/``: ``notebooks/`` (executed
  notebooks), ``.state/`` (what each successful run depended on, the reads logs, the
  digest cache), and whatever the notebooks write under ``run_dir`` (data, maps,
  checkpoints, figures, metrics), atomically.
- Failure: papermill's error stops the run; the partial executed notebook (with the
  failing cell's traceback) is kept as ``notebooks/NN_name.failed.ipynb``.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from radgazegen.io import write_json

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(__file__).resolve().parent
INJECTED = ("profile", "run_dir")
#: Environment variable naming the step being executed (``radgazegen.artifacts`` reads it).
STEP_VARIABLE = "RADGAZEGEN_STEP"
#: Version of the ``.state/<step>.json`` layout; other versions are stale.
STATE_FORMAT = 2
#: The run directory's append-only log of the runner's lines (chapter started / done in s).
PROGRESS_LOG = "progress.log"
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list, "dict": dict}


class RunnerError(RuntimeError):
    """A problem with a profile, a notebook or a parameter (message names which)."""


class StepFailed(RunnerError):
    """A notebook raised; ``partial`` is the executed notebook kept for reading."""

    def __init__(self, message: str, partial: Path):
        super().__init__(message)
        self.partial = partial


@dataclass
class Step:
    """One notebook of a profile.

    name: file stem, e.g. ``01_data_preparation``; path: the jupytext script;
    params_file: its profile's YAML; upstream: names of the steps it depends on;
    ancestors: upstream, transitively. After ``Study.resolve``: params, the digests of
    the source and the parameters, modules (package module -> digest of its source) and
    key (a summary of those, stored in the executed notebook's metadata).
    """

    name: str
    path: Path
    params_file: Path
    upstream: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    ancestors: set[str] = field(default_factory=set)
    source: str = ""
    params_digest: str = ""
    modules: dict[str, str] = field(default_factory=dict)
    checks: "_Checks | None" = field(default=None, repr=False, compare=False)


@dataclass
class Study:
    """Where a study's notebooks, parameters, runs and package live (tests point it elsewhere).

    package: the folder of the package whose modules the notebooks import (its name is the
    top-level import name); only the modules a notebook imports are part of its cache key.
    """

    notebooks: Path = REPO / "notebooks"
    params: Path = REPO / "params"
    runs: Path = REPO / "runs"
    kernel: str = "python3"
    package: Path = PACKAGE

    def run_dir(self, profile: str) -> Path:
        return self.runs / profile

    # ------------------------------------------------------------------ discovery
    def profiles(self) -> list[str]:
        return sorted(p.name for p in self.params.iterdir() if p.is_dir())

    def steps(self, profile: str) -> list[Step]:
        """The profile's steps in order, with upstream resolved (no parameters yet)."""
        pdir = self.params / profile
        if not pdir.is_dir():
            raise RunnerError(f"unknown profile {profile!r}: no folder {pdir} (profiles: {self.profiles()})")
        steps: list[Step] = []
        ancestors: dict[str, set[str]] = {}
        for nb in sorted(self.notebooks.glob("[0-9][0-9]_*.py")):
            pfile = pdir / f"{nb.stem}.yml"
            if not pfile.exists():
                continue
            meta = _jupytext_metadata(nb).get("radgazegen", {}) or {}
            declared = meta.get("upstream")
            earlier = [s.name for s in steps]
            if declared is None:
                upstream = earlier
            else:
                missing = [u for u in declared if u not in earlier]
                if missing:
                    raise RunnerError(
                        f"{nb}: metadata radgazegen.upstream names {missing}, which are not earlier "
                        f"steps of profile {profile!r} ({earlier})"
                    )
                upstream = list(declared)
            ancestors[nb.stem] = set(upstream).union(*(ancestors[u] for u in upstream))
            steps.append(Step(nb.stem, nb, pfile, upstream, ancestors=ancestors[nb.stem]))
        if not steps:
            raise RunnerError(f"profile {profile!r} has no notebooks: no params/{profile}/NN_*.yml matches notebooks/")
        return steps

    # ------------------------------------------------------------------ parameters
    def resolve(self, profile: str, overrides: Sequence[str] = ()) -> list[Step]:
        """Steps with their resolved parameters and what their cache depends on."""
        steps = self.steps(profile)
        names = {s.name for s in steps}
        parsed = [_parse_override(o, names) for o in overrides]
        run_dir = _display_path(self.run_dir(profile))
        used = set()
        modules = PackageModules(self.package)
        checks = _Checks(self, profile, steps)
        shared_file = self.params / profile / "_study.yml"
        shared = (yaml.safe_load(shared_file.read_text()) or {}) if shared_file.is_file() else {}
        if not isinstance(shared, dict):
            raise RunnerError(f"{shared_file}: expected a mapping of parameter: value")
        shared_used: set[str] = set()
        for step in steps:
            declared = declared_parameters(step.path)
            values = yaml.safe_load(step.params_file.read_text()) or {}
            if not isinstance(values, dict):
                raise RunnerError(f"{step.params_file}: expected a mapping of parameter: value")
            twice = sorted(set(values) & set(shared))
            if twice:
                raise RunnerError(f"{step.params_file}: {twice} already set in {shared_file}; set each once")
            values = {**{k: v for k, v in shared.items() if k in declared}, **values}
            shared_used |= set(shared) & set(declared)
            for i, (target, key, value) in enumerate(parsed):
                if target in (None, step.name) and (key in declared or target == step.name):
                    values[key] = value
                    used.add(i)
            values = {k: _substitute(v, run_dir=run_dir) for k, v in values.items()}
            values.update(profile=profile, run_dir=str(run_dir))
            for k, v in values.items():
                _check_parameter(step, declared, k, v)
            step.params = values
            step.source = _sha256(step.path.read_bytes())
            step.params_digest = _sha256(json.dumps(values, sort_keys=True, default=str).encode())
            step.modules = modules.digests(modules.imported_by(step.path))
            step.key = _hash(step.source, step.params_digest, json.dumps(step.modules, sort_keys=True))
            step.checks = checks
        if set(shared) - shared_used:
            raise RunnerError(f"{shared_file}: no notebook of profile {profile!r} declares {sorted(set(shared) - shared_used)}")
        unused = [overrides[i] for i in range(len(parsed)) if i not in used]
        if unused:
            raise RunnerError(f"-p {unused}: no notebook of profile {profile!r} declares that parameter")
        return steps

    # ------------------------------------------------------------------ state
    def state_file(self, profile: str, name: str) -> Path:
        return self.run_dir(profile) / ".state" / f"{name}.json"

    def reads_file(self, profile: str, name: str) -> Path:
        """Where ``radgazegen.artifacts`` records the artifacts step ``name`` reads."""
        return self.run_dir(profile) / ".state" / "reads" / f"{name}.json"

    def executed(self, profile: str, name: str) -> Path:
        return self.run_dir(profile) / "notebooks" / f"{name}.ipynb"

    def stale_reason(self, profile: str, step: Step) -> str | None:
        """None when ``step`` (from ``resolve``) is current, else the first reason it is stale,
        e.g. ``source changed``, ``radgazegen.controls changed``,
        ``01_data_preparation/split.csv changed``, ``upstream 02_control_maps is stale``."""
        checks = step.checks if step.checks is not None and step.checks.study is self else _Checks(self, profile, [step])
        try:
            return checks.reason(step)
        finally:
            checks.digests.save()

    def is_current(self, profile: str, step: Step) -> bool:
        return self.stale_reason(profile, step) is None

    # ------------------------------------------------------------------ running
    def run(
        self,
        profile: str,
        only: Iterable[str] = (),
        overrides: Sequence[str] = (),
        force: bool = False,
        log=print,
    ) -> list[tuple[str, str, float]]:
        """Run the profile's stale steps in order. Returns (name, status, seconds) per step.

        ``only``: run just these steps (names, or unique prefixes such as ``01``) plus
        their stale upstream steps. ``force``: run even when current. A step's staleness
        is decided when its turn comes, after its upstream steps ran.
        """
        steps = self.resolve(profile, overrides)
        log = _ProgressLog(self.run_dir(profile) / PROGRESS_LOG, log)
        by_name = {s.name: s for s in steps}
        selected = [_match(o, by_name) for o in only] if only else list(by_name)
        wanted = set(selected)
        for name in selected:  # and their stale upstream, however far up
            wanted |= {u for u in by_name[name].ancestors if not self.is_current(profile, by_name[u])}
        results = []
        for step in steps:
            if step.name not in wanted:
                continue
            reason = "forced" if force else self.stale_reason(profile, step)
            if reason is None:
                log(f"[{profile}] {step.name}: up to date, skipped")
                results.append((step.name, "skipped", 0.0))
                continue
            log(f"[{profile}] {step.name}: running ({reason})")
            t0 = time.perf_counter()
            try:
                self._execute(profile, step)
            except BaseException as exc:
                log(f"[{profile}] {step.name}: stopped after {time.perf_counter() - t0:.1f} s ({type(exc).__name__})")
                raise
            finally:
                step.checks.forget()  # files changed: decide later steps afresh
            dt = time.perf_counter() - t0
            log(f"[{profile}] {step.name}: done in {dt:.1f} s")
            results.append((step.name, "ran", dt))
        return results

    def _execute(self, profile: str, step: Step) -> None:
        import jupytext
        import papermill as pm

        out_dir = self.run_dir(profile) / "notebooks"
        out_dir.mkdir(parents=True, exist_ok=True)
        self.state_file(profile, step.name).unlink(missing_ok=True)
        reads_log = self.reads_file(profile, step.name)
        reads_log.unlink(missing_ok=True)
        nb = jupytext.read(step.path)
        nb.metadata["kernelspec"] = {"name": self.kernel, "display_name": "Python 3", "language": "python"}
        nb.metadata.setdefault("radgazegen", {}).update(profile=profile, key=step.key)
        running = out_dir / f"{step.name}.running.ipynb"
        failed = out_dir / f"{step.name}.failed.ipynb"
        failed.unlink(missing_ok=True)
        src = out_dir / f".{step.name}.input.ipynb"
        jupytext.write(nb, src, fmt="ipynb")
        previous = os.environ.get(STEP_VARIABLE)
        os.environ[STEP_VARIABLE] = step.name  # the kernel inherits it
        try:
            pm.execute_notebook(
                str(src), str(running), parameters=step.params, kernel_name=self.kernel,
                cwd=str(REPO), progress_bar=False, log_output=False,
            )
            reads = self._checked_reads(profile, step)
        except BaseException as exc:
            if running.exists():
                os.replace(running, failed)
            self.executed(profile, step.name).unlink(missing_ok=True)
            if isinstance(exc, pm.PapermillExecutionError):
                raise StepFailed(
                    f"{step.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
                    f"partial output kept: {failed}", failed,
                ) from exc
            raise
        finally:
            src.unlink(missing_ok=True)
            if previous is None:
                os.environ.pop(STEP_VARIABLE, None)
            else:
                os.environ[STEP_VARIABLE] = previous
        os.replace(running, self.executed(profile, step.name))
        digests = _Digests(self.run_dir(profile))
        inputs = {name: dict(r, sha256=digests.of(r["path"])) for name, r in reads.items()
                  if r["writer"] != step.name}
        digests.save()
        write_json(self.state_file(profile, step.name), {
            "format": STATE_FORMAT, "notebook": step.name, "profile": profile, "key": step.key,
            "source": step.source, "params_digest": step.params_digest, "params": step.params,
            "modules": step.modules, "reads": inputs, "upstream": step.upstream,
        })

    def _checked_reads(self, profile: str, step: Step) -> dict[str, dict[str, str]]:
        """The step's reads log ({} when absent), each read's writer checked against its upstream."""
        log = self.reads_file(profile, step.name)
        if not log.is_file():
            return {}
        try:
            reads = json.loads(log.read_text())
            if not all(isinstance(r.get("path"), str) and isinstance(r.get("writer"), str) for r in reads.values()):
                raise ValueError("each read needs a path and a writer")
        except (ValueError, AttributeError) as exc:
            raise RunnerError(f"{log}: unreadable reads log of {step.name} ({exc})") from None
        profile_steps = set(step.checks.steps) if step.checks else {s.name for s in self.steps(profile)}
        allowed = step.ancestors | {step.name}
        for name, r in sorted(reads.items()):
            if r["writer"] in profile_steps and r["writer"] not in allowed:
                raise RunnerError(
                    f"{step.path.name} reads artifact {name!r} ({r['path']}) written by {r['writer']}, which is "
                    f"not in its upstream {sorted(step.ancestors)}: add it to radgazegen.upstream"
                )
        return reads

    def status(self, profile: str, overrides: Sequence[str] = ()) -> list[tuple[str, str]]:
        """(name, ``current`` | ``stale: <first reason>``) for each step of the profile."""
        out = []
        for s in self.resolve(profile, overrides):
            reason = self.stale_reason(profile, s)
            out.append((s.name, "current" if reason is None else f"stale: {reason}"))
        return out


class _Checks:
    """Staleness of one resolved profile's steps, memoised until ``forget`` (after a step ran)."""

    def __init__(self, study: Study, profile: str, steps: list[Step]):
        self.study, self.profile = study, profile
        self.steps = {s.name: s for s in steps}
        self.reasons: dict[str, str | None] = {}
        self.digests = _Digests(study.run_dir(profile))

    def forget(self) -> None:
        self.digests.save()
        self.reasons.clear()
        self.digests = _Digests(self.study.run_dir(self.profile))

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


class _Digests:
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


class _ProgressLog:
    """The runner's console lines, also appended (UTC-stamped, flushed per line) to
    ``runs/<profile>/progress.log``, which another command can read while a run goes on or
    after it stopped (e.g. per-chapter times of a run on a remote GPU machine)."""

    def __init__(self, path: Path, echo):
        self.path, self.echo = path, echo

    def __call__(self, line: str) -> None:
        self.echo(line)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")


def _temporary(path: Path) -> bool:
    """A leftover of an interrupted atomic write (``radgazegen.io``): not content."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


class PackageModules:
    """The package's modules a notebook imports, found statically (``ast``; nothing runs).

    Import statements anywhere in a file count (also inside functions): ``import pkg.x``,
    ``from pkg import x, y``, ``from pkg.x import name`` (a submodule when ``name`` is
    one), relative imports, and string literals naming a module (``importlib``).
    Importing a module imports its parent packages too. A module's digest covers its
    source and the package data files whose names appear as string literals in it.
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
            source = f.read_bytes()
            h = hashlib.sha256(source)
            strings = _string_literals(self._tree(module))
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


def _string_literals(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------- helpers
def declared_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters cell, as papermill reads it: name -> {type, default, help}."""
    import jupytext
    from papermill.inspection import _infer_parameters

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise RunnerError(f"{path}: no cell tagged 'parameters' (papermill cannot set its parameters)")
    return {
        p.name: {"type": p.inferred_type_name, "default": p.default, "help": p.help}
        for p in _infer_parameters(nb)
    }


def _display_path(path: Path) -> Path:
    """``path`` relative to the repository when inside it (notebooks run with cwd = repo),
    so executed notebooks and the book show ``runs/smoke``, not a machine's home folder."""
    path = path.resolve()
    try:
        return path.relative_to(REPO)
    except ValueError:
        return path


def _jupytext_metadata(path: Path) -> dict:
    import jupytext

    return dict(jupytext.read(path).metadata)


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _parse_override(text: str, names: set[str]) -> tuple[str | None, str, Any]:
    if "=" not in text:
        raise RunnerError(f"-p {text!r}: expected key=value or NOTEBOOK.key=value")
    key, raw = text.split("=", 1)
    target = None
    if "." in key:
        target, key = key.rsplit(".", 1)
        if target not in names:
            raise RunnerError(f"-p {text!r}: no notebook named {target!r} in this profile ({sorted(names)})")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise RunnerError(f"-p {text!r}: value is not valid YAML ({exc})") from None
    return target, key.strip(), value


def _substitute(value: Any, **env: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{run_dir}", str(env["run_dir"])).replace("{repo}", str(REPO))
    if isinstance(value, list):
        return [_substitute(v, **env) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, **env) for k, v in value.items()}
    return value


def _check_parameter(step: Step, declared: dict, key: str, value: Any) -> None:
    if key not in declared:
        if key in INJECTED:
            raise RunnerError(f"{step.path}: the parameters cell must declare {key!r} (the runner sets it)")
        raise RunnerError(
            f"{step.params_file}: parameter {key!r} is not declared by {step.path.name} "
            f"(declared: {sorted(declared)})"
        )
    tname = declared[key]["type"]
    expected = _TYPES.get(tname)
    if expected is None or value is None:
        return
    bad = not isinstance(value, expected) or (tname in ("int", "float") and isinstance(value, bool))
    if bad:
        raise RunnerError(
            f"{step.name}: parameter {key!r} expects {tname}, got {type(value).__name__} {value!r} "
            f"(from {step.params_file} or -p)"
        )


def _match(name: str, by_name: dict[str, Step]) -> str:
    if name in by_name:
        return name
    hits = [n for n in by_name if n.startswith(name)]
    if len(hits) != 1:
        raise RunnerError(f"--only {name!r}: matches {hits or 'no notebook'} (notebooks: {list(by_name)})")
    return hits[0]

