"""The study's runner: executes the notebooks of one parameter profile with papermill.

``python -m radgazegen run --profile NAME [--only NOTEBOOK ...] [-p key=value ...]``

- A *step* is a jupytext percent script ``notebooks/NN_name.py`` that has a parameters
  file ``params/<profile>/NN_name.yml``, run in file-name order; a notebook without one is
  not part of that profile (no cohort in ``full``; ``lesson``: the central claim's chapters).
- Parameters: defaults in the notebook's tagged ``parameters`` cell; then the profile's
  ``_study.yml`` (constants shared by chapters, each set once) and the notebook's own YAML
  file (``radgazegen.study.parameters``: one-line errors naming file, line and key); then
  ``-p key=value`` (every notebook declaring ``key``) or ``-p NN_name.key=value``. Values are
  YAML, checked against the cell's annotations; strings may use ``{run_dir}`` and ``{repo}``.
  Every step also receives ``profile`` and ``run_dir``.
- Upstream: the steps named in the notebook's jupytext metadata
  (``radgazegen: {upstream: [...]}``), else all earlier steps; named notebooks outside the
  profile are left out (``lesson``'s chapter 14 runs without 08-12). While a step runs, the
  runner sets ``RADGAZEGEN_STEP=<step>``; ``radgazegen.core.artifacts`` then records each
  cross-chapter artifact the step reads in ``.state/reads/<step>.json`` (name -> path
  relative to the run directory, writer). After the step succeeds, every recorded read
  whose writer is a step of the profile must be written by the step itself or by one of
  its (transitive) upstream steps, else the run stops with a ``RunnerError`` (writers
  that are not steps of the profile, such as the cohort in ``full``, are external inputs;
  the executed notebook is then kept as ``notebooks/NN_name.failed.ipynb``).
- Caching: a step is current when, compared with its last successful run, nothing it
  depends on changed: its source, its resolved parameters, the source of each package
  module it imports (transitively, with the data files a module names) and the content of
  each artifact it read; a step is also stale while the writer of an artifact it read is
  stale (``radgazegen.study.dependencies``). Steps run in order, and a step's staleness is decided
  once its upstream steps have finished. ``status`` names the first reason a step is stale;
  ``--force`` runs current steps too.
- Outputs: one run directory per profile, ``runs/<profile>/``: ``notebooks/`` (executed
  notebooks), ``.state/`` (what each successful run depended on, the reads logs, the
  digest cache), ``progress.log`` (the runner's lines, UTC-stamped), and what the notebooks
  write under ``run_dir`` (data, maps, checkpoints, figures, metrics), atomically.
- Failure: papermill's error stops the run; the partial executed notebook (with the
  failing cell's traceback) is kept as ``notebooks/NN_name.failed.ipynb``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from radgazegen.study.dependencies import STATE_FORMAT, ArtifactDigests, PackageModules, StepChecks
from radgazegen.core.io import write_json
from radgazegen.core.progress import LOG_VARIABLE, ProgressLog, machine_line, stderr_to
from radgazegen.study.runlock import RunLock, RunLocked
from radgazegen.study.parameters import RunnerError, check_parameter, declared_parameters, load_parameters_file, parse_override, substitute

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parents[1]
#: Environment variable naming the step being executed (``radgazegen.core.artifacts`` reads it).
STEP_VARIABLE = "RADGAZEGEN_STEP"
#: The run directory's append-only log of the runner's lines (chapter started / done in s).
PROGRESS_LOG = "progress.log"


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
    checks: "StepChecks | None" = field(default=None, repr=False, compare=False)


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
        notebooks = sorted(self.notebooks.glob("[0-9][0-9]_*.py"))
        outside = {nb.stem for nb in notebooks if not (pdir / f"{nb.stem}.yml").exists()}  # left out of this profile
        for nb in notebooks:
            pfile = pdir / f"{nb.stem}.yml"
            if not pfile.exists():
                continue
            meta = _jupytext_metadata(nb).get("radgazegen", {}) or {}
            declared = meta.get("upstream")
            earlier = [s.name for s in steps]
            if declared is None:
                upstream = earlier
            else:
                declared = [u for u in declared if u not in outside]  # a chapter left out: its artifacts are absent
                missing = [u for u in declared if u not in earlier]
                if missing:
                    raise RunnerError(f"{nb}: metadata radgazegen.upstream names {missing}, which are not "
                                      f"earlier steps of profile {profile!r} ({earlier})")
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
        parsed = [parse_override(o, names) for o in overrides]
        run_dir = _display_path(self.run_dir(profile))
        used = set()
        modules = PackageModules(self.package)
        checks = StepChecks(self, profile, steps)
        shared_file = self.params / profile / "_study.yml"
        shared = load_parameters_file(shared_file) if shared_file.is_file() else {}
        shared_used: set[str] = set()
        for step in steps:
            declared = declared_parameters(step.path)
            values = load_parameters_file(step.params_file)
            twice = sorted(set(values) & set(shared))
            if twice:
                raise RunnerError(f"{step.params_file}: {twice} already set in {shared_file}; set each once")
            values = {**{k: v for k, v in shared.items() if k in declared}, **values}
            shared_used |= set(shared) & set(declared)
            for i, (target, key, value) in enumerate(parsed):
                if target in (None, step.name) and (key in declared or target == step.name):
                    values[key] = value
                    used.add(i)
            values = {k: substitute(v, run_dir=run_dir) for k, v in values.items()}
            values.update(profile=profile, run_dir=str(run_dir))
            for k, v in values.items():
                check_parameter(step, declared, k, v)
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
        """Where ``radgazegen.core.artifacts`` records the artifacts step ``name`` reads."""
        return self.run_dir(profile) / ".state" / "reads" / f"{name}.json"

    def executed(self, profile: str, name: str) -> Path:
        return self.run_dir(profile) / "notebooks" / f"{name}.ipynb"

    def stale_reason(self, profile: str, step: Step) -> str | None:
        """None when ``step`` (from ``resolve``) is current, else the first reason it is stale,
        e.g. ``source changed``, ``radgazegen.controls changed``,
        ``01_data_preparation/split.csv changed``, ``upstream 02_control_maps is stale``."""
        checks = step.checks if step.checks is not None and step.checks.study is self else StepChecks(self, profile, [step])
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
        wait: bool = False,
    ) -> list[tuple[str, str, float]]:
        """Run the profile's stale steps in order. Returns (name, status, seconds) per step.

        ``only``: run just these steps (names, or unique prefixes such as ``01``) plus
        their stale upstream steps. ``force``: run even when current. A step's staleness
        is decided when its turn comes, after its upstream steps ran. One runner per run
        directory (``RunLock``): another one holding it is an error, or awaited with ``wait``.
        """
        steps = self.resolve(profile, overrides)
        try:
            with RunLock(self.run_dir(profile), wait=wait, log=log):  # one runner per run directory
                return self._run_steps(profile, steps, only, force, ProgressLog(self.run_dir(profile) / PROGRESS_LOG, log, machine_line(REPO)))
        except RunLocked as exc:
            raise RunnerError(str(exc)) from None

    @staticmethod
    def needed(steps: list[Step], only) -> list[Step]:
        """The steps a run with ``only`` may execute: those named and all their upstream steps
        (all steps when ``only`` is empty). The preflight checks just these steps' resources."""
        by_name = {s.name: s for s in steps}
        selected = {_match(o, by_name) for o in only} if only else set(by_name)
        wanted = selected.union(*(by_name[n].ancestors for n in selected))
        return [s for s in steps if s.name in wanted]

    def _run_steps(self, profile: str, steps: list[Step], only, force: bool, log) -> list[tuple[str, str, float]]:
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
        # the kernel inherits: the step's name (reads log), progress bars to the run's log, OpenMP threads that sleep when
        # idle (spinning ones made a shared 2-core CPU 5x slower; a value set in the environment wins)
        kernel_env = {STEP_VARIABLE: step.name, LOG_VARIABLE: str(self.run_dir(profile) / "logs" / f"{step.name}.log"),
                      "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                      "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        previous = {k: os.environ.get(k) for k in kernel_env}
        os.environ.update(kernel_env)
        try:
            with stderr_to(kernel_env[LOG_VARIABLE]):  # the kernel's own warnings and tracebacks: the chapter's log
                pm.execute_notebook(str(src), str(running), parameters=step.params, kernel_name=self.kernel,
                                    cwd=str(REPO), progress_bar=False, log_output=False)
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
            os.environ.update({k: v for k, v in previous.items() if v is not None})
            for k in (k for k, v in previous.items() if v is None):
                os.environ.pop(k, None)
        os.replace(running, self.executed(profile, step.name))
        digests = ArtifactDigests(self.run_dir(profile))
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _display_path(path: Path) -> Path:
    """``path`` relative to the repository when inside it (notebooks run with cwd = repo): ``runs/smoke``, not a home folder."""
    path = path.resolve()
    try:
        return path.relative_to(REPO)
    except ValueError:
        return path


def _jupytext_metadata(path: Path) -> dict:
    return dict(__import__("jupytext").read(path).metadata)


def _hash(*parts: str) -> str:
    return hashlib.sha256(b"".join(p.encode() + b"\0" for p in parts)).hexdigest()[:16]


def _match(name: str, by_name: dict[str, Step]) -> str:
    if name in by_name:
        return name
    hits = [n for n in by_name if n.startswith(name)]
    if len(hits) != 1:
        raise RunnerError(f"--only {name!r}: matches {hits or 'no notebook'} (notebooks: {list(by_name)})")
    return hits[0]
