"""The generation methods: RadGazeGen (Eq. 6), its ablations and the baselines, as one registry.

A ``Method`` (frozen) says how one generator steers SD-CXR:

- ``name``: as printed in this study's tables, one per method (``"ControlNet (canny)"``,
  ``"Multi-ControlNet (canny + segmentation)"``, ``"RadGazeGen (gl + hva)"``). Names are made
  here only; elsewhere they are looked up (the constants below, ``Registry`` queries) and
  never parsed;
- ``kind``: ``TEXT`` (the prompt alone), ``CONTROLNET`` (one or more ControlNets whose
  residuals, each times its scale, are summed into the U-Net: Eq. 6) or ``ADAPTER`` (one
  T2I-Adapter);
- ``family``: the row of Tables 1 and 2 the method fills (``FAMILIES``; Rad-CN and HVA-CN
  are their own family);
- ``controls``: the controls it sees (``radgazegen.core.vocabulary`` names, in ``CONTROLS``
  order); ``uses_gaze``: whether the gaze control is one of them;
- ``models``: its trained models as keys of chapter 05's / 06's ``models.json``
  (``controlnet_key(c)``, ``adapter_key(c)``, ``RAD_CN_KEY``, ``HVA_CN_KEY``) and
  ``model_dirs``: their folders, one per ControlNet (or the adapter's);
- ``inputs``: the conditioning key each model reads (a control name, ``UNIFIED`` or a
  ``vocabulary.unified_key`` with channels off) and ``scales``: each model's conditioning scale;
- ``paper_row``: the paper's row label of this method in Tables 3-5 (``""`` where it is no
  row); the paper's label of a family (Tables 1-2) is ``PAPER_FAMILIES[family]``;
- ``negative_prompt``: its own negative prompt (``""``: chapter 07's), the authors' sampler's.

``build(rad, hva, ...)`` makes the registry of a run from its trained models
(``Run.read_models()``): what chapter 07 generates, the last of them ``authors_sampler``
(RadGazeGen at the authors' released scales and negative prompt, a row of chapters 08-09). ``eq6`` is RadGazeGen with any subset of
its controls (the indicator of Eq. 6: the per-map Rad-CN drops the ControlNets of the maps
switched off, the unified one gets their channels zeroed). ``catalogue()`` is every method
the study knows, without folders (the paper's labels and the claims need no run).
``Registry.to_json`` / ``from_json`` is chapter 07's ``methods.json``. Sampling a method is
``generation.Sampler``'s.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Iterable, Iterator, Mapping, Sequence

from radgazegen.core.vocabulary import (
    CANNY, CONTROLS, HVA, LABELS, RADIOMICS_CONTROLS, SEGMENTATION, UNIFIED, check_controls, unified_key,
)

#: How a method steers SD-CXR.
TEXT, CONTROLNET, ADAPTER = "text", "controlnet", "adapter"
KINDS = (TEXT, CONTROLNET, ADAPTER)

#: Names of the methods that need no control in their name.
SD = "SD"
ROENTGEN = "RoentGen"
MULTI_CONTROLNET = "Multi-ControlNet"
RAD_CN = "Rad-CN"
HVA_CN = "HVA-CN"
RADGAZEGEN = "RadGazeGen"

#: Families of methods: the rows of Tables 1 and 2 (SD, RoentGen, Multi-ControlNet and
#: RadGazeGen are also the names of their family's method with every control).
T2I_ADAPTER = "T2I-Adapter"
SINGLE_CONTROLNET = "ControlNet"
FAMILIES = (SD, ROENTGEN, T2I_ADAPTER, SINGLE_CONTROLNET, MULTI_CONTROLNET, RADGAZEGEN)
#: The paper's row label of each family (Tables 1 and 2).
PAPER_FAMILIES = {**{f: f for f in FAMILIES}, MULTI_CONTROLNET: "MultiControl"}

#: Rad-CN's designs (chapter 05's ``design``): one ControlNet on the unified control, or one per map.
UNIFIED_DESIGN, PER_MAP_DESIGN = "unified", "per-map"

#: Keys of Rad-CN and HVA-CN in chapter 05's / 06's ``models.json``.
RAD_CN_KEY, HVA_CN_KEY = "rad-cn", "hva-cn"
#: Keys (and names) of chapter 06's models for chapter 13's primary test, not methods of the
#: tables: HVA-CN as Eq. 5 writes it (gaze mask, location-free prompts, no Rad-CN) and the
#: oracle (the same ControlNet on the finding's ground-truth box).
HVA_CN_EQ5, ORACLE = "HVA-CN (Eq. 5)", "oracle (box)"

#: RadGazeGen as the authors' released REFLACX inference script samples it
#: (``generate_images_reflacx.py``): each Rad-CN ControlNet at 0.1, HVA-CN at 0.001, and their
#: negative prompt; a family of its own (a row of chapters 08-09 beside RadGazeGen at this
#: study's scale 1.0, not a row of the paper's tables or of the claims).
AUTHORS_SAMPLER = "RadGazeGen (authors' sampler)"
AUTHORS_RAD_CN_SCALE, AUTHORS_HVA_CN_SCALE = 0.1, 0.001
AUTHORS_NEGATIVE_PROMPT = "monochrome, lowres, bad anatomy, worst quality, low quality"


def controlnet_key(control: str) -> str:
    """The ``models.json`` key of the single-control ControlNet baseline on ``control``."""
    return f"controlnet-{control}"


def adapter_key(control: str) -> str:
    """The ``models.json`` key of the T2I-Adapter baseline on ``control``."""
    return f"t2i-adapter-{control}"


def _named(head: str, controls: Sequence[str]) -> str:
    return f"{head} ({' + '.join(controls)})"


@dataclass(frozen=True)
class Method:
    """One generation method (see the module's docstring for the fields)."""

    name: str
    kind: str
    family: str
    controls: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    model_dirs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    scales: tuple[float, ...] = ()
    paper_row: str = ""
    negative_prompt: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name!r}: kind {self.kind!r}; expected one of {KINDS}")
        check_controls(self.controls, CONTROLS, f"method {self.name!r}")
        if len(self.inputs) != len(self.scales):
            raise ValueError(f"method {self.name!r}: {len(self.inputs)} input(s) but {len(self.scales)} scale(s)")
        if self.model_dirs and len(self.model_dirs) != len(self.models):
            raise ValueError(f"method {self.name!r}: {len(self.models)} model(s) but {len(self.model_dirs)} folder(s)")

    @property
    def uses_gaze(self) -> bool:
        """Whether the method sees the gaze (the HVA control)."""
        return HVA in self.controls

    @property
    def folder(self) -> str:
        """Its folder under a generation directory: ``"Multi-ControlNet (canny + hva)"`` ->
        ``"multi-controlnet-canny-hva"``."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def to_json(self) -> dict:
        """A JSON record (``methods.json``): every field but the name, plus folder and uses_gaze."""
        record = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "name"}
        return {"folder": self.folder, **record, "uses_gaze": self.uses_gaze}

    @classmethod
    def from_json(cls, name: str, record: Mapping) -> "Method":
        fields = ("kind", "family", "controls", "models", "model_dirs", "inputs", "scales", "paper_row", "negative_prompt")
        return cls(name, **{k: (tuple(record[k]) if isinstance(record[k], list) else record[k]) for k in fields if k in record})


class Registry(Mapping[str, Method]):
    """Name -> ``Method``, in generation order, with lookups by family and controls."""

    def __init__(self, methods: Iterable[Method] = ()):
        self._methods: dict[str, Method] = {}
        for m in methods:
            if m.name in self._methods:
                raise ValueError(f"method {m.name!r} registered twice")
            self._methods[m.name] = m

    def __getitem__(self, name: str) -> Method:
        try:
            return self._methods[name]
        except KeyError:
            raise KeyError(f"no method {name!r}; methods: {list(self._methods)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    def __repr__(self) -> str:
        return f"Registry({list(self._methods)})"

    def find(self, family: str, controls: Iterable[str]) -> Method | None:
        """The method of ``family`` that sees exactly ``controls`` (any order), or None."""
        want = set(controls)
        return next((m for m in self.values() if m.family == family and set(m.controls) == want), None)

    def single(self, family: str, control: str) -> Method | None:
        """The method of ``family`` on ``control`` alone (``single(SINGLE_CONTROLNET, CANNY)``)."""
        return self.find(family, (control,))

    def of_family(self, family: str) -> list[Method]:
        return [m for m in self.values() if m.family == family]

    def by_control(self, control: str) -> list[Method]:
        """The methods that see ``control``."""
        return [m for m in self.values() if control in m.controls]

    def paper_rows(self) -> dict[str, str]:
        """The paper's row label -> method name, for the methods that are a row of Tables 3-5."""
        return {m.paper_row: m.name for m in self.values() if m.paper_row}

    def subset(self, names: Iterable[str]) -> "Registry":
        """The methods ``names`` (in that order); unknown names raise ``KeyError``."""
        return Registry(self[n] for n in names)

    def to_json(self) -> dict:
        return {name: m.to_json() for name, m in self.items()}

    @classmethod
    def from_json(cls, records: Mapping[str, Mapping]) -> "Registry":
        return cls(Method.from_json(name, r) for name, r in records.items())


def _single(kind: str, control: str, key: str, folder: str, scale: float) -> Method:
    if kind == CONTROLNET:
        name, family = _named(SINGLE_CONTROLNET, [control]), SINGLE_CONTROLNET
        paper = "ControlNet (Canny)" if control == CANNY else ""  # Table 4
    else:
        name, family = _named(T2I_ADAPTER, [control]), T2I_ADAPTER
        paper = T2I_ADAPTER if control == CANNY else ""  # Table 3
    return Method(name, kind, family, (control,), (key,), (folder,), (control,), (scale,), paper)


def _multi(name: str, controls: Sequence[str], models: Mapping[str, str], scale: float, paper: str = "") -> Method:
    keys = tuple(controlnet_key(c) for c in controls)
    return Method(name, CONTROLNET, MULTI_CONTROLNET, tuple(controls), keys, tuple(models[k] for k in keys),
                  tuple(controls), (scale,) * len(controls), paper)


def radgazegen_name(active: Iterable[str]) -> str:
    """The name of RadGazeGen with the controls ``active`` switched on: ``RAD_CN`` (radiomics
    only), ``HVA_CN`` (gaze only), ``RADGAZEGEN`` (all), else ``"RadGazeGen (gl + hva)"``."""
    on = set(check_controls(active, CONTROLS, "active"))
    if on == set(RADIOMICS_CONTROLS):
        return RAD_CN
    if on == {HVA}:
        return HVA_CN
    if on == set(CONTROLS):
        return RADGAZEGEN
    return _named(RADGAZEGEN, [c for c in CONTROLS if c in on])


def eq6(rad: dict, hva: dict | None, active: Iterable[str], rad_cn_scale: float = 1.0, hva_cn_scale: float = 1.0,
        name: str | None = None) -> Method:
    """RadGazeGen with a subset of its controls switched on (the indicator of Eq. 6).

    rad, hva: chapter 05's and 06's ``models.json``; active: controls among ``CONTROLS``.
    Per-map Rad-CN: the ControlNets of inactive maps are dropped (exactly the indicator).
    Unified Rad-CN: its inactive channels are zeroed (input ``unified_key(active maps)``; the
    ControlNet still sees the active ones). Rad-CN's ControlNets get ``rad_cn_scale``, HVA-CN
    ``hva_cn_scale``. name: default ``radgazegen_name(active)``.
    """
    active = check_controls(active, CONTROLS, "active")
    maps = [c for c in RADIOMICS_CONTROLS if c in active]
    keys: list[str] = []
    dirs: list[str] = []
    inputs: list[str] = []
    if maps:
        rad_cn = rad[RAD_CN_KEY]
        if rad_cn["design"] == UNIFIED_DESIGN:
            dirs = list(rad_cn["controlnets"])
            keys, inputs = [RAD_CN_KEY] * len(dirs), [unified_key(maps)]
        else:
            pairs = dict(zip(rad_cn["controls"], rad_cn["controlnets"]))
            dirs, keys, inputs = [pairs[m] for m in maps], [controlnet_key(m) for m in maps], list(maps)
    scales = [rad_cn_scale] * len(dirs)
    if HVA in active:
        if hva is None:
            raise ValueError(f"active: {HVA!r} needs HVA-CN (chapter 06's models.json)")
        keys, dirs, inputs, scales = [*keys, HVA_CN_KEY], [*dirs, hva[HVA_CN_KEY]], [*inputs, HVA], [*scales, hva_cn_scale]
    name = name or radgazegen_name(active)
    controls = tuple(c for c in CONTROLS if c in active)
    family = RADGAZEGEN if HVA in controls and len(controls) > 1 else name
    paper = {RAD_CN: RAD_CN, HVA_CN: HVA_CN, RADGAZEGEN: RADGAZEGEN}.get(name, "")
    if not paper and len(controls) == 2 and HVA in controls:
        paper = f"{LABELS[controls[0]]}+HVA-CN"  # Table 5's ablation rows
    return Method(name, CONTROLNET, family, controls, tuple(keys), tuple(dirs), tuple(inputs),
                  tuple(float(s) for s in scales), paper)


def authors_sampler(rad: dict, hva: dict) -> Method:
    """RadGazeGen (every control) at the authors' released sampler settings: Rad-CN at
    ``AUTHORS_RAD_CN_SCALE``, HVA-CN at ``AUTHORS_HVA_CN_SCALE``, ``AUTHORS_NEGATIVE_PROMPT``
    (chapter 07 gives it the same prompts, controls, seeds and steps as every other method)."""
    method = eq6(rad, hva, CONTROLS, AUTHORS_RAD_CN_SCALE, AUTHORS_HVA_CN_SCALE, name=AUTHORS_SAMPLER)
    return replace(method, family=AUTHORS_SAMPLER, paper_row="", negative_prompt=AUTHORS_NEGATIVE_PROMPT)


def roentgen() -> Method:
    """RoentGen: Stable Diffusion fine-tuned on MIMIC-CXR by others, text only (its own weights)."""
    return Method(ROENTGEN, TEXT, ROENTGEN, paper_row=ROENTGEN)


def build(rad: dict, hva: dict | None = None, rad_cn_scale: float = 1.0, hva_cn_scale: float = 1.0,
          control_scale: float = 1.0) -> Registry:
    """The methods a run's trained models make, in generation order.

    rad, hva: chapter 05's and 06's ``models.json`` (``Run.read_models()``). Text only (SD);
    per control with a trained baseline, ControlNet and T2I-Adapter; Multi-ControlNet over
    every single-control ControlNet, over Canny + lung mask (Table 4), and over each
    radiomics map + HVA (Table 1); Rad-CN, HVA-CN, each radiomics map + HVA-CN and RadGazeGen
    (``eq6``, Table 5). Scales: ``control_scale`` for each baseline model, ``rad_cn_scale`` /
    ``hva_cn_scale`` for Rad-CN / HVA-CN.
    """
    models = {**rad.get("models", {}), **(hva or {}).get("models", {})}
    out = [Method(SD, TEXT, SD, paper_row=SD)]
    for c in CONTROLS:
        if controlnet_key(c) in models:
            out.append(_single(CONTROLNET, c, controlnet_key(c), models[controlnet_key(c)], control_scale))
        if adapter_key(c) in models:
            out.append(_single(ADAPTER, c, adapter_key(c), models[adapter_key(c)], control_scale))
    single = [c for c in CONTROLS if controlnet_key(c) in models]
    if len(single) > 1:
        out.append(_multi(MULTI_CONTROLNET, single, models, control_scale))
    if {CANNY, SEGMENTATION} <= set(single):
        out.append(_multi(_named(MULTI_CONTROLNET, [CANNY, SEGMENTATION]), [CANNY, SEGMENTATION], models, control_scale,
                          "MultiControlNet (Canny+Seg)"))  # Table 4
    for c in RADIOMICS_CONTROLS:
        if c in single and HVA in single:
            out.append(_multi(_named(MULTI_CONTROLNET, [c, HVA]), [c, HVA], models, control_scale))
    if RAD_CN_KEY in rad:
        out.append(eq6(rad, hva, RADIOMICS_CONTROLS, rad_cn_scale, hva_cn_scale))
    if hva is not None:
        out.append(eq6(rad, hva, [HVA], rad_cn_scale, hva_cn_scale))
        if RAD_CN_KEY in rad:
            out += [eq6(rad, hva, [c, HVA], rad_cn_scale, hva_cn_scale) for c in RADIOMICS_CONTROLS]
            out.append(eq6(rad, hva, CONTROLS, rad_cn_scale, hva_cn_scale))
            if (rad_cn_scale, hva_cn_scale) != (AUTHORS_RAD_CN_SCALE, AUTHORS_HVA_CN_SCALE):  # full: RadGazeGen is it
                out.append(authors_sampler(rad, hva))  # last: the other methods' images do not depend on it
    return Registry(out)


@lru_cache(maxsize=None)
def catalogue() -> Registry:
    """Every method the study knows (all baselines trained, unified Rad-CN, RoentGen), without
    folders: names, kinds, families, controls and paper labels, for code that has no run."""
    keys = {k: "" for c in CONTROLS for k in (controlnet_key(c), adapter_key(c))}
    rad = {"models": keys, RAD_CN_KEY: {"design": UNIFIED_DESIGN, "controlnets": [""], "controls": [UNIFIED]}}
    every = build(rad, {HVA_CN_KEY: "", "models": {}})
    return Registry([*(replace(m, model_dirs=()) for m in every.values()), roentgen()])
