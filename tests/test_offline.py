"""The offline install for the air-gapped GPU server (radgazegen.study.offline): no network needed."""
from __future__ import annotations

import ast
import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from radgazegen.study import offline, wheelhouse

pytestmark = pytest.mark.slow  # builds wheels and installs them (left out of `make check`)

REPO = Path(__file__).resolve().parents[1]
TARGET = wheelhouse.target_environment("3.12", "manylinux_2_28_x86_64")


def item(name, version, requires=()):
    """One entry of a pip ``--report``'s ``install`` list."""
    return {"metadata": {"name": name, "version": version, "requires_dist": list(requires)},
            "requested": False, "is_direct": False}


# A hand-written pip report, as a Python 3.11 resolver may write it for a 3.12 target: names
# spelled as their authors do, tomli picked by the host's markers, extras, preinstalled packages
# with dependencies of their own.
REPORT = {"version": "1", "install": [
    item("diffusers", "0.42.1", ["huggingface-hub>=1.0", "importlib_metadata", "Pillow",
                                 "tomli; python_version < '3.12'",
                                 "accelerate>=0.31; extra == 'torch'", "torch>=1.4; extra == 'torch'"]),
    item("huggingface_hub", "1.33.0", ["hf-xet>=1.6; platform_machine == 'x86_64'", "pydantic>=2"]),
    item("hf_xet", "1.8.0"),
    item("pydantic", "2.12.0", ["typing_extensions"]),
    item("importlib_metadata", "10.2.0", ["zipp>=3.20"]),
    item("zipp", "4.1.2"),
    item("Pillow", "12.0.0"),
    item("tomli", "2.3.0"),
    item("papermill", "2.7.0", ["nbformat>=5.2", "aiohttp>=3.9; python_version >= '3.12'",
                                "black>=19; extra == 'black'", "ansicolors; extra == 'dev'"]),
    item("nbformat", "5.11.1", ["fastjsonschema>=2.15", "jsonschema>=2.6", "jupyter_core!=5.0.*,>=4.12"]),
    item("fastjsonschema", "2.22.3"),
    item("jsonschema", "4.26.0", ["attrs>=22.2.0", "rpds-py>=0.7.1"]),
    item("rpds_py", "2026.9.1"),
    item("jupyter-core", "5.9.1"),
    item("black", "26.1.0"),
    item("aiohttp", "3.13.0", ["yarl"]),
    item("yarl", "1.22.0"),
    item("torch", "2.11.0", ["nvidia-cublas; platform_machine == 'x86_64'", "typing-extensions"]),
    item("nvidia-cublas", "13.1.0"),
    item("Typing_Extensions", "4.16.0"),
]}
ROOTS = ["diffusers>=0.30", "papermill[black]>=2.5", "torch>=2.3", "Pillow>=10"]
PREINSTALLED = {"torch", "Huggingface_Hub", "hf-xet", "pillow", "zipp", "aiohttp", "yarl", "attrs",
                "typing.extensions"}


def test_names_are_normalised():
    assert wheelhouse.normalize("Open_Clip.Torch") == "open-clip-torch"
    assert wheelhouse.normalize("typing__extensions") == "typing-extensions"
    assert wheelhouse.normalize("PyYAML") == "pyyaml"
    assert wheelhouse.requirement_name("open_clip_torch>=2.24") == "open-clip-torch"
    assert wheelhouse.requirement_name("Foo.Bar[baz] ; python_version < '3.12'") == "foo-bar"
    with pytest.raises(wheelhouse.OfflineError):
        wheelhouse.requirement_name(">=1.0")


def test_what_is_shipped_from_a_pip_report():
    shipped = wheelhouse.to_ship(REPORT, ROOTS, PREINSTALLED, TARGET)
    assert shipped == {"black": "26.1.0", "diffusers": "0.42.1", "fastjsonschema": "2.22.3",
                       "importlib-metadata": "10.2.0", "jsonschema": "4.26.0", "jupyter-core": "5.9.1",
                       "nbformat": "5.11.1", "papermill": "2.7.0", "rpds-py": "2026.9.1"}
    # what only the server's packages need stays with them (pydantic, nvidia-cublas), the host's
    # marker choices are re-checked for the target (tomli), extras nobody asked for are not followed
    for name in ("huggingface-hub", "pydantic", "hf-xet", "nvidia-cublas", "tomli", "accelerate", "pillow"):
        assert name not in shipped


def test_what_the_target_needs_and_the_report_lacks_is_an_error():
    # a report resolved on Python 3.11, where papermill does not want aiohttp, for a server that lacks it
    report = {"install": [i for i in REPORT["install"] if i["metadata"]["name"] != "aiohttp"]}
    with pytest.raises(wheelhouse.OfflineError, match=r"aiohttp>=3\.9.*needed by papermill"):
        wheelhouse.to_ship(report, ROOTS, PREINSTALLED - {"aiohttp"}, TARGET)
    # for a 3.11 target the same report is complete (and wants tomli)
    py311 = {**TARGET, "python_version": "3.11", "python_full_version": "3.11.0"}
    shipped = wheelhouse.to_ship(report, ROOTS, PREINSTALLED - {"aiohttp"}, py311)
    assert "aiohttp" not in shipped and "tomli" in shipped


def test_the_install_refuses_to_replace_what_the_server_has():
    report = {"install": [item("numpy", "2.6.0"), item("diffusers", "0.42.1"), item("traitlets", "5.16.1"),
                          item("setuptools", "84.2.1")]}
    installed = {"NumPy": "2.5.1", "diffusers": "0.40.0", "torch": "2.11.0"}
    assert wheelhouse.replaced_preinstalled(report, installed, shipped={"diffusers", "traitlets"},
                                         preinstalled={"numpy", "setuptools"}) == [
        "numpy 2.5.1 -> 2.6.0", "setuptools (not installed) -> 84.2.1"]
    assert wheelhouse.replaced_preinstalled({"install": [item("traitlets", "5.16.1")]}, installed,
                                         {"traitlets"}, {"numpy"}) == []


def test_runtime_requirements_are_pyprojects_less_the_book_and_dev():
    names = [wheelhouse.requirement_name(r) for r in wheelhouse.runtime_requirements()]
    assert "jupyter-book" not in names and "pytest" not in names
    for name in ("diffusers", "papermill", "jupytext", "ipykernel", "nbformat", "torchxrayvision",
                 "open-clip-torch", "torch-fidelity", "pydicom", "pydicom-data", "torch"):
        assert name in names


def test_the_servers_list_and_the_constraints():
    pre = wheelhouse.read_preinstalled()
    assert pre["torch"] == "==2.11.*" and pre["transformers"] == "==5.17.*" and pre["pandas"] == ""
    assert "typing-extensions" in pre and "opencv-python-headless" in pre
    for lacking in ("diffusers", "papermill", "jupytext", "ipykernel", "nbformat", "jsonschema",
                    "traitlets", "pyzmq", "tornado", "torchxrayvision", "open-clip-torch", "ftfy",
                    "wcwidth", "torch-fidelity", "pydicom", "pydicom-data"):
        assert lacking not in pre
    lines = wheelhouse.resolution_constraints(wheelhouse.read_pins(), pre)
    for line in ("diffusers==0.42.1", "papermill==2.7.0", "torch==2.11.*", "transformers==5.17.*"):
        assert line in lines
    # the CPU machine's pins of what the server has are not the server's versions
    assert not any(re.match(r"(torch|torchvision|transformers|numpy|jupyter-book|pytest)==\d", ln)
                   for ln in lines if not ln.endswith("*"))


def test_target_platform_flags():
    tags = wheelhouse.platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    flags = wheelhouse.target_flags("3.12", "manylinux_2_28_x86_64")
    assert "--only-binary=:all:" in flags and flags[flags.index("--abi") + 1] == "cp312"
    assert flags[flags.index("--python-version") + 1] == "3.12"


def _wheel(folder: Path) -> Path:
    path = folder / "pkg-1.0-py3-none-any.whl"
    files = {"pkg/__init__.py": b"x = 1\n", "pkg/data/big.csv": b"a,b\n" * 1000,
             "pkg/data/keep.dcm": b"DICM", "pkg-1.0.data/data/share/x.txt": b"x",
             "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
             "pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("pkg-1.0.dist-info/RECORD", "".join(f"{n},,\n" for n in [*files, "pkg-1.0.dist-info/RECORD"]))
    return path


def test_slim_wheel_drops_data_and_says_so_in_its_version(tmp_path):
    out = wheelhouse.slim_wheel(_wheel(tmp_path), drop=("pkg/data/*",), keep=("pkg/data/keep.dcm",))
    assert out.name == "pkg-1.0+slim-py3-none-any.whl" and not (tmp_path / "pkg-1.0-py3-none-any.whl").exists()
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert "pkg/data/big.csv" not in names and {"pkg/data/keep.dcm", "pkg/__init__.py"} <= names
        assert "pkg-1.0+slim.data/data/share/x.txt" in names and not any(n.startswith("pkg-1.0.") for n in names)
        assert "Version: 1.0+slim\n" in z.read("pkg-1.0+slim.dist-info/METADATA").decode()
        rows = [r.split(",") for r in z.read("pkg-1.0+slim.dist-info/RECORD").decode().splitlines()]
        assert {r[0] for r in rows} == names
        for name, digest, size in rows:
            if digest:
                data = z.read(name)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert int(size) == len(data)
    # pip takes it, as that version
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--isolated", "--target", str(target), str(out)], check=True, timeout=300)
    assert (target / "pkg" / "data" / "keep.dcm").exists() and not (target / "pkg" / "data" / "big.csv").exists()
    assert (target / "pkg-1.0+slim.dist-info").is_dir()
    with pytest.raises(wheelhouse.OfflineError, match="nothing matches"):
        wheelhouse.slim_wheel(out, drop=("nothing/*",))


def _sources():
    return [*REPO.glob("notebooks/*.py"), *(REPO / "radgazegen").rglob("*.py")]


def test_the_slimmed_data_is_not_what_the_study_reads():
    """torchxrayvision's data files are only the default csvpath of its dataset classes: the study
    must make none of them; pydicom's test files: only those kept may be asked for."""
    drop, keep, _ = wheelhouse.SLIM["pydicom-data"]
    kept = {Path(k).name for k in keep}
    for path in _sources():
        if path.name in ("offline.py", "slim_wheels.py", "wheelhouse.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            if func.endswith("get_testdata_file") or func.endswith("get_testdata_files"):
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                assert args and args[0] in kept, f"{path.name}: {ast.unparse(node)} reads a file left out"
            assert not re.search(r"\bdatasets\.\w+_Dataset$", func), \
                f"{path.name}: {ast.unparse(node)} needs torchxrayvision's data files"


def test_a_folder_that_is_not_a_wheelhouse_is_never_replaced(tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(wheelhouse.OfflineError, match="not a wheelhouse"):
        wheelhouse.build_wheelhouse(tmp_path)  # before any resolution: no network
    assert (tmp_path / "notes.md").exists()
    (tmp_path / "notes.md").unlink()
    (tmp_path / "a-1.0-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(wheelhouse.OfflineError, match="no offline.json"):
        wheelhouse.build_wheelhouse(tmp_path)


def test_the_install_checks_the_python_it_was_built_for(tmp_path):
    (tmp_path / wheelhouse.MANIFEST).write_text('{"python_version": "2.7", "shipped": {}, "preinstalled": {}}')
    with pytest.raises(wheelhouse.OfflineError, match="built for Python 2.7"):
        offline.install(tmp_path)


@pytest.mark.parametrize("args, expected", [
    ([], "--profile teach"), (["PROFILE=smoke"], "--profile smoke")])
def test_make_study_offline(args, expected):
    out = subprocess.run(["make", "-n", "-C", str(REPO), "study-offline", "WHEELHOUSE=/w",
                          "OFFLINE_PYTHON=/opt/torch/.venv/bin/python3", *args],
                         capture_output=True, text=True, check=True).stdout
    assert "/opt/torch/.venv/bin/python3 -m radgazegen.study.offline install --wheelhouse /w" in out
    assert f"/opt/torch/.venv/bin/python3 -m radgazegen run {expected}" in out


def test_make_wheelhouse_targets_the_server():
    out = subprocess.run(["make", "-n", "-C", str(REPO), "wheelhouse"], capture_output=True, text=True,
                         check=True).stdout
    for part in ("-m radgazegen.study.offline wheelhouse", "--dest wheelhouse", "--python-version 3.12",
                 "--platform manylinux_2_28_x86_64", "--preinstalled constraints/offline.txt", "--max-mb 40"):
        assert part in out
    assert "--no-slim" not in out


def test_gpu_run_stops_at_its_deadline_and_always_packs(tmp_path, monkeypatch):
    """``make gpu-teach``: a profile run still going at the deadline is stopped with a Ctrl-C,
    and the executed chapters, progress log and chapter logs come back all the same."""
    import sys
    import tarfile
    import time

    from radgazegen.study import gpu_run

    fake_repo = tmp_path / "repo"
    run = fake_repo / "runs" / "teach"
    (run / "notebooks").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "notebooks" / "00_a.ipynb").write_text("{}")
    (run / "notebooks" / "01_b.running.ipynb").write_text("{}")
    (run / "notebooks" / ".01_b.input.ipynb").write_text("{}")
    (run / "progress.log").write_text("... [teach] 00_a: done in 1.0 s\n")
    (run / "logs" / "01_b.log").write_text("steps: 10%\n")
    monkeypatch.setattr(gpu_run, "REPO", fake_repo)
    monkeypatch.setattr(gpu_run, "PACK_RESERVE_S", 1.0)
    monkeypatch.setattr(gpu_run, "describe_machine", lambda: "test machine\n")
    sleeper = [sys.executable, "-c", "import time; print('working', flush=True); time.sleep(60)"]
    t0 = time.monotonic()
    code = gpu_run.gpu_run(tmp_path / "out", deadline_s=4.0, wheelhouse=None, command=sleeper)
    assert code is None and time.monotonic() - t0 < 30  # stopped at the deadline, not after 60 s
    with tarfile.open(tmp_path / "out" / "teach-chapters.tgz") as tar:
        names = sorted(tar.getnames())
    assert names == ["logs/01_b.log", "notebooks/00_a.ipynb", "notebooks/01_b.running.ipynb", "progress.log"]
    log = (tmp_path / "out" / "teach.log").read_text()
    assert "working" in log and "stopped at the deadline" in log
    assert (tmp_path / "out" / "device.txt").read_text() == "test machine\n"
