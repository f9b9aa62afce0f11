"""The study's runner: executes the notebooks of one parameter profile with papermill.

``python -m radgazegen run --profile NAME [--only NOTEBOOK ...] [-p key=value ...]``

- A *step* is a jupytext percent script ``notebooks/NN_name.py`` that has a parameters
  file ``params/<profile>/NN_name.yml``. A profile runs its steps in file-name order;
  a notebook without a parameters file in a profile is not part of that profile (the
  synthetic cohort, for example, is not generated in ``full``). Adding a notebook =
  adding its file and its parameters files.
- Parameters: the notebook's tagged ``parameters`` cell holds the defaults; the profile's
  YAML file overrides them; ``-p key=value`` (every notebook declaring ``key``) or
  ``-p NN_name.key=value`` (that notebook only) override the file. Values are parsed as
  YAML and checked against the annotated type of the parameters cell. String values may
  use ``{run_dir}`` and ``{repo}`` placeholders. Every step also receives ``profile``
  and ``run_dir``.
- Caching: a step's key is a hash of its source, its resolved parameters, the study
  package's source and the keys of its upstream steps. Upstream steps are those named
  in the notebook's jupytext metadata (``radgazegen: {upstream: [...]}``), else all
  earlier steps. A step whose key matches its last successful run is skipped; a change
  re-runs the step and, through the keys, everything downstream of it.
- Outputs: one run directory per profile, ``runs/<profile>/``: ``notebooks/`` (executed
  notebooks), ``.state/`` (keys of successful runs), and whatever the notebooks write
  under ``run_dir`` (data, maps, checkpoints, figures, metrics), atomically.
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

import yaml

from radgazegen.io import write_json

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(__file__).resolve().parent
INJECTED = ("profile", "run_dir")
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
    params_file: its profile's YAML; upstream: names of the steps it depends on.
    """

    name: str
    path: Path
    params_file: Path
    upstream: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    key: str = ""


@dataclass
class Study:
    """Where a study's notebooks, parameters and runs live (tests point it elsewhere)."""

    notebooks: Path = REPO / "notebooks"
    params: Path = REPO / "params"
    runs: Path = REPO / "runs"
    kernel: str = "python3"

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
            steps.append(Step(nb.stem, nb, pfile, upstream))
        if not steps:
            raise RunnerError(f"profile {profile!r} has no notebooks: no params/{profile}/NN_*.yml matches notebooks/")
        return steps

    # ------------------------------------------------------------------ parameters
    def resolve(self, profile: str, overrides: Sequence[str] = ()) -> list[Step]:
        """Steps with their resolved parameters and cache keys."""
        steps = self.steps(profile)
        names = {s.name for s in steps}
        parsed = [_parse_override(o, names) for o in overrides]
        run_dir = _display_path(self.run_dir(profile))
        keys: dict[str, str] = {}
        used = set()
        for step in steps:
            declared = declared_parameters(step.path)
            values = yaml.safe_load(step.params_file.read_text()) or {}
            if not isinstance(values, dict):
                raise RunnerError(f"{step.params_file}: expected a mapping of parameter: value")
            for i, (target, key, value) in enumerate(parsed):
                if target in (None, step.name) and (key in declared or target == step.name):
                    values[key] = value
                    used.add(i)
            values = {k: _substitute(v, run_dir=run_dir) for k, v in values.items()}
            values.update(profile=profile, run_dir=str(run_dir))
            for k, v in values.items():
                _check_parameter(step, declared, k, v)
            step.params = values
            step.key = _hash(
                step.path.read_text(),
                json.dumps(values, sort_keys=True, default=str),
                package_digest(),
                *[keys[u] for u in step.upstream],
            )
            keys[step.name] = step.key
        unused = [overrides[i] for i in range(len(parsed)) if i not in used]
        if unused:
            raise RunnerError(f"-p {unused}: no notebook of profile {profile!r} declares that parameter")
        return steps

    # ------------------------------------------------------------------ state
    def state_file(self, profile: str, name: str) -> Path:
        return self.run_dir(profile) / ".state" / f"{name}.json"

    def executed(self, profile: str, name: str) -> Path:
        return self.run_dir(profile) / "notebooks" / f"{name}.ipynb"

    def is_current(self, profile: str, step: Step) -> bool:
        sf = self.state_file(profile, step.name)
        if not sf.exists() or not self.executed(profile, step.name).exists():
            return False
        try:
            return json.loads(sf.read_text()).get("key") == step.key
        except json.JSONDecodeError:
            return False

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
        their stale upstream steps. ``force``: run even when current.
        """
        steps = self.resolve(profile, overrides)
        by_name = {s.name: s for s in steps}
        selected = [_match(o, by_name) for o in only] if only else list(by_name)
        wanted: set[str] = set()

        def want(name: str) -> None:
            for u in by_name[name].upstream:
                if not self.is_current(profile, by_name[u]):
                    want(u)
            wanted.add(name)

        for name in selected:
            want(name)
        results = []
        for step in steps:
            if step.name not in wanted:
                continue
            if not force and self.is_current(profile, step):
                log(f"[{profile}] {step.name}: up to date, skipped")
                results.append((step.name, "skipped", 0.0))
                continue
            log(f"[{profile}] {step.name}: running")
            t0 = time.perf_counter()
            self._execute(profile, step)
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
        nb = jupytext.read(step.path)
        nb.metadata["kernelspec"] = {"name": self.kernel, "display_name": "Python 3", "language": "python"}
        nb.metadata.setdefault("radgazegen", {}).update(profile=profile, key=step.key)
        running = out_dir / f"{step.name}.running.ipynb"
        failed = out_dir / f"{step.name}.failed.ipynb"
        failed.unlink(missing_ok=True)
        src = out_dir / f".{step.name}.input.ipynb"
        jupytext.write(nb, src, fmt="ipynb")
        try:
            pm.execute_notebook(
                str(src), str(running), parameters=step.params, kernel_name=self.kernel,
                cwd=str(REPO), progress_bar=False, log_output=False,
            )
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
        os.replace(running, self.executed(profile, step.name))
        write_json(self.state_file(profile, step.name), {
            "key": step.key, "notebook": step.name, "profile": profile,
            "params": step.params, "upstream": step.upstream,
        })

    def status(self, profile: str, overrides: Sequence[str] = ()) -> list[tuple[str, str]]:
        """(name, "current" | "stale") for each step of the profile."""
        return [(s.name, "current" if self.is_current(profile, s) else "stale")
                for s in self.resolve(profile, overrides)]


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


def package_digest() -> str:
    """Hash of the study package's Python source (results depend on it)."""
    h = hashlib.sha256()
    for f in sorted(PACKAGE.rglob("*.py")):
        h.update(f.relative_to(PACKAGE).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


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

