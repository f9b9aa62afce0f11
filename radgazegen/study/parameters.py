"""The notebooks' parameters as the runner handles them: what a notebook declares (its
tagged ``parameters`` cell, read as papermill reads it), ``-p`` overrides, the
``{run_dir}`` / ``{repo}`` placeholders and the type check against the declaration.
Errors are ``radgazegen.study.runner.RunnerError`` naming the file, notebook and key."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
#: Parameters every notebook declares and the runner sets.
INJECTED = ("profile", "run_dir")
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list, "dict": dict}


class RunnerError(RuntimeError):
    """A problem with a profile, a notebook or a parameter (message names which)."""


def _error(message: str) -> RunnerError:
    return RunnerError(message)


def declared_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters cell, as papermill reads it: name -> {type, default, help}."""
    import jupytext
    from papermill.inspection import _infer_parameters

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise _error(f"{path}: no cell tagged 'parameters' (papermill cannot set its parameters)")
    return {
        p.name: {"type": p.inferred_type_name, "default": p.default, "help": p.help}
        for p in _infer_parameters(nb)
    }


def parse_override(text: str, names: set[str]) -> tuple[str | None, str, Any]:
    if "=" not in text:
        raise _error(f"-p {text!r}: expected key=value or NOTEBOOK.key=value")
    key, raw = text.split("=", 1)
    target = None
    if "." in key:
        target, key = key.rsplit(".", 1)
        if target not in names:
            raise _error(f"-p {text!r}: no notebook named {target!r} in this profile ({sorted(names)})")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise _error(f"-p {text!r}: value is not valid YAML ({exc})") from None
    return target, key.strip(), value


def substitute(value: Any, **env: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{run_dir}", str(env["run_dir"])).replace("{repo}", str(REPO))
    if isinstance(value, list):
        return [substitute(v, **env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, **env) for k, v in value.items()}
    return value


def check_parameter(step, declared: dict, key: str, value: Any) -> None:
    if key not in declared:
        if key in INJECTED:
            raise _error(f"{step.path}: the parameters cell must declare {key!r} (the runner sets it)")
        raise _error(
            f"{step.params_file}: parameter {key!r} is not declared by {step.path.name} "
            f"(declared: {sorted(declared)})"
        )
    tname = declared[key]["type"]
    expected = _TYPES.get(tname)
    if expected is None or value is None:
        return
    bad = not isinstance(value, expected) or (tname in ("int", "float") and isinstance(value, bool))
    if bad:
        raise _error(
            f"{step.name}: parameter {key!r} expects {tname}, got {type(value).__name__} {value!r} "
            f"(from {step.params_file} or -p)"
        )


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_parameters_file(path: Path) -> dict[str, Any]:
    """A profile's parameters file (``params/<profile>/*.yml``) as a mapping, or one
    ``RunnerError`` line naming the file, the line and the key: YAML syntax errors, a key given
    twice, a value that is not a finite number where YAML read a float (``.nan``, ``.inf``),
    or a file that is not a mapping. An empty file is ``{}``."""
    path = Path(path)
    try:
        values = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _error(f"{path}{where}: {exc.problem or exc.context or 'invalid YAML'}") from None
    except yaml.YAMLError as exc:
        raise _error(f"{path}: invalid YAML ({exc})") from None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise _error(f"{path}: expected a mapping of parameter: value, got {type(values).__name__}")
    for key, value in values.items():
        for v in (value if isinstance(value, list) else [value]):
            if isinstance(v, float) and not math.isfinite(v):
                line = _line_of(path, key)
                raise _error(f"{path}{f', line {line}' if line else ''}: parameter {key!r} is {v}, not a finite number")
    return values


def _line_of(path: Path, key: str) -> int | None:
    """The 1-based line where ``key:`` starts in ``path`` (None when not found)."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(f"{key}:"):
            return i
    return None
