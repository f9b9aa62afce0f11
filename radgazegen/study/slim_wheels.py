"""Wheels rewritten without data files the study never reads (``make wheelhouse``, ``SLIM``),
and the error type of the offline install (``radgazegen.study.wheelhouse``, ``radgazegen.study.offline``)."""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import zipfile
from pathlib import Path

# A data file that notebook 02 reads through pydicom.data.get_testdata_file (from pydicom-data).
DICOM_SAMPLE = "RG1_UNCR.dcm"
# Data files that two shipped wheels carry and the study never reads: 63 of the wheelhouse's
# 90 MB. ``make wheelhouse`` rewrites these wheels without them, as version ``X+slim`` (a local
# version: never on PyPI, so never mistaken for the release); WHEEL_SLIM=0 ships them whole.
SLIM_LABEL = "slim"
SLIM: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # name: (members to drop, members kept among them, why)
    "torchxrayvision": (("torchxrayvision/data/*",), (),
                        "label tables of public datasets (PadChest 17 MB, CheXpert, NIH, ...), read "
                        "only as the default csvpath of xrv.datasets' dataset classes; the study uses "
                        "xrv.models, xrv.baseline_models and xrv.datasets' transforms"),
    "pydicom-data": (("data_store/data/*", "data_store/tests/*"), (f"data_store/data/{DICOM_SAMPLE}",),
                     f"pydicom's test DICOM files; notebook 02 reads one of them, {DICOM_SAMPLE}"),
}



class OfflineError(RuntimeError):
    """A wheelhouse that cannot be built or installed as asked."""


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def slim_wheel(path: Path, drop, keep=(), label: str = SLIM_LABEL) -> Path:
    """Rewrite the wheel at ``path`` without the members matching ``drop`` (except ``keep``), as
    version ``<version>+<label>`` (file name, ``.dist-info``/``.data`` folders, METADATA, RECORD);
    the original is removed. Returns the new wheel's path."""
    path = Path(path)
    parts = path.name[:-len(".whl")].split("-")
    dist, version = parts[0], parts[1]
    new_version = f"{version}+{label}" if "+" not in version else f"{version}.{label}"
    old_prefix, new_prefix = f"{dist}-{version}.", f"{dist}-{new_version}."
    out = path.with_name("-".join([dist, new_version, *parts[2:]]) + ".whl")
    record_name, records, dropped = None, [], 0
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename
            if any(fnmatch.fnmatchcase(name, g) for g in drop) and not any(
                    fnmatch.fnmatchcase(name, g) for g in keep):
                dropped += 1
                continue
            new_name = new_prefix + name[len(old_prefix):] if name.startswith(old_prefix) else name
            if new_name.endswith(".dist-info/RECORD"):
                record_name = new_name
                continue
            data = zin.read(info)
            if new_name.endswith(".dist-info/METADATA"):
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {new_version}".encode(), data, count=1)
            zi = zipfile.ZipInfo(new_name, date_time=info.date_time)
            zi.external_attr, zi.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
            records.append(f"{new_name},{_record_hash(data)},{len(data)}")
        if record_name is None:
            raise OfflineError(f"{path.name}: no RECORD")
        records.append(f"{record_name},,")
        zi = zipfile.ZipInfo(record_name, date_time=(2020, 1, 1, 0, 0, 0))
        zi.external_attr, zi.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
        zout.writestr(zi, "\n".join(records) + "\n")
    if not dropped:
        out.unlink()
        raise OfflineError(f"{path.name}: nothing matches {list(drop)}: check SLIM in radgazegen/study/slim_wheels.py")
    before = path.stat().st_size
    path.unlink()
    print(f"slimmed {path.name} ({before / 1e6:.1f} MB) -> {out.name} ({out.stat().st_size / 1e6:.1f} MB): "
          f"{dropped} data files left out", flush=True)
    return out
