"""The central claim's primary test (chapter 13): does the finding change lungs when the gaze does?

Each held-out focal finding (``core.labels.FOCAL_FINDINGS``) with one ground-truth box in one
lung is generated from its location-free prompt twice per seed: with its gaze control as
recorded and with the gaze mirrored left <-> right (same zone, the other lung). A localiser
trained on the cohort's training images says which lung the generated finding is in (its
strongest logit inside the test image's lung mask). The **primary endpoint** of one image pair
is the mean of the two gazed-lung hits; SD never sees the gaze, so its one image per seed hits
exactly one of the two sides: 0.5 by construction.

``PrimaryTest`` holds the findings and their controls; its methods draw a method's images from
both gazes with the same seeds and score them. ``run_arms`` runs every arm of the test
(SD, HVA-CN (Eq. 5) over all seeds; the box oracle and the two RadGazeGen variants on seed 0),
the ceiling (the true counterfactual) and the shuffled-gaze floor, and ``evidence`` turns them
into ``core.intervals.Evidence`` cells for the rule (``counterfactual.decide``).

Shapes: N findings, R px images and controls; gaze and box controls ``(N, 3, R, R)`` in [0, 1];
images ``(N, R, R)`` uint8; hits ``(N,)`` in {0, 0.5, 1}.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from radgazegen.core.intervals import Evidence, paired_difference
from radgazegen.core.labels import FOCAL_FINDINGS
from radgazegen.generation.methods import HVA_CN_EQ5, ORACLE, RADGAZEGEN
from radgazegen.metrics import counterfactual

#: The evidence's column names (chapter 13's table and chapter 14's claim).
GAZED_LUNG = "gazed lung"
DIFFERENCE = "difference in the boxes"
#: The arms' names in the tables.
ARM_NAMES = {"hva": HVA_CN_EQ5, "oracle": ORACLE, "rg_eq5": f"{RADGAZEGEN} (Eq. 5 HVA-CN)",
             "rg_paper": f"{RADGAZEGEN} (paper's HVA-CN)"}


def focal_in_one_lung(items: Sequence, boxes_of: Callable, side_of: Callable) -> list[int]:
    """Indices of the test ``items`` (``models.training_data.Item``) the primary test scores: a
    focal finding with exactly one ground-truth box (``boxes_of(dicom_id, finding)``) lying in one
    lung (``side_of(dicom_id, finding)`` is "left" or "right")."""
    return [i for i, it in enumerate(items) if it.finding in FOCAL_FINDINGS
            and len(boxes_of(it.dicom_id, it.finding)) == 1 and side_of(it.dicom_id, it.finding) in ("left", "right")]


@dataclass
class PrimaryTest:
    """The primary test's findings at R px and how its images are drawn and scored.

    items: the N focal findings (``training_data.Item``, gaze mask control, location-free
    prompt); gaze / mirrored: ``(N, 3, R, R)`` their gaze controls as recorded and mirrored;
    lungs: ``(N, R, R)`` bool lung masks of the test images; boxes: the N ground-truth boxes on
    the R grid; sampler: ``generation.Sampler`` of SD-CXR; localiser: ``standins.Localiser``
    (``logits``: ``(N, R, R)`` uint8 -> ``(N, R, R)``); seeds of replicate r: ``seed + 1000 r + i``
    for finding i, the same for every method."""
    items: list
    gaze: np.ndarray
    mirrored: np.ndarray
    lungs: np.ndarray
    boxes: list
    sampler: object
    localiser: object
    steps: int
    guidance: float
    seed: int = 0
    side: np.ndarray = field(init=False)
    side_mirrored: np.ndarray = field(init=False)

    def __post_init__(self):
        self.side = np.array([counterfactual.gaze_side(g[0]) for g in self.gaze])
        self.side_mirrored = np.array([counterfactual.gaze_side(g[0]) for g in self.mirrored])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def resolution(self) -> int:
        return int(self.gaze.shape[-1])

    @property
    def box_masks(self) -> np.ndarray:
        """``(N, R, R)`` bool: each finding's box."""
        return np.stack([counterfactual.box_mask(b, self.resolution) for b in self.boxes]).astype(bool)

    @property
    def mirrored_box_masks(self) -> np.ndarray:
        """``(N, R, R)`` bool: each box mirrored into the other lung."""
        r = self.resolution
        return np.stack([counterfactual.box_mask(counterfactual.mirror_box(b, r), r) for b in self.boxes]).astype(bool)

    def draw(self, nets: list, controls: list, scales: list, r: int) -> np.ndarray:
        """``(N, R, R)`` uint8 images of seed replicate ``r`` from ControlNets ``nets`` (folders or
        models; none: SD) with ``controls`` (``(N, 3, R, R)`` arrays, one per net) at ``scales``."""
        import torch

        from radgazegen import generation

        pipe = self.sampler.pipeline(nets)
        kw = dict(steps=self.steps, guidance=self.guidance, seeds=generation.replicate_seeds(self.seed, r, len(self)),
                  resolution=self.resolution)
        prompts = [it.prompt for it in self.items]
        if not nets:
            return generation.generate(pipe, prompts, **kw)
        return generation.generate(pipe, prompts, [torch.from_numpy(c) for c in controls], scales=scales, **kw)

    def both(self, nets: list, rest: list, rest_scales: list, original: np.ndarray, mirrored: np.ndarray,
             scale: float, r: int) -> tuple[np.ndarray, np.ndarray]:
        """A gaze-guided method's images of replicate ``r`` from the ``original`` and the
        ``mirrored`` last control (``rest``: the controls before it, at ``rest_scales``)."""
        return (self.draw(nets, [*rest, original], [*rest_scales, scale], r),
                self.draw(nets, [*rest, mirrored], [*rest_scales, scale], r))

    def hits(self, original: np.ndarray, mirrored: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """``(N,)`` primary endpoint of one image pair: the mean of the gazed-lung hits of the image
        from the original and from the mirrored gaze. ``order``: score image i against finding
        ``order[i]``'s gazed sides (the shuffled-gaze floor)."""
        order = np.arange(len(self)) if order is None else np.asarray(order)
        peak = lambda im: counterfactual.lung_peak_side(self.localiser.logits(im), self.lungs)  # noqa: E731
        return 0.5 * (counterfactual.side_hits(peak(original), self.side[order])
                      + counterfactual.side_hits(peak(mirrored), self.side_mirrored[order]))


@dataclass
class Arms:
    """What ``run_arms`` drew: per arm its image pairs (``images[name][r] = (original,
    mirrored)``; SD's are one image per replicate, scored as a pair with itself) and its hits
    ``(R_arm, N)``; the ceiling's ``(1, N)`` and the shuffled gaze's ``(R, N)``."""
    images: dict
    hits: dict
    ceiling: np.ndarray
    shuffled: np.ndarray


def run_arms(test: PrimaryTest, seeds: int, eq5, oracle=None, rad_cn: dict | None = None, rad_controls=(),
             rad_scale: float = 1.0, paper_hva=None, hypotheses: np.ndarray | None = None, hva_scale: float = 1.0,
             real: np.ndarray | None = None, names: dict | None = None) -> Arms:
    """Every arm of the primary test.

    SD and HVA-CN (Eq. 5) (``eq5``, its gaze mask at scale 1) on ``seeds`` replicates; on
    replicate 0 only: the box ``oracle`` (the box as control), RadGazeGen with the Eq. 5 HVA-CN
    over Rad-CN (``rad_cn``: chapter 05's record, its ``controlnets`` given ``rad_controls`` at
    ``rad_scale``), and the paper-faithful RadGazeGen (``paper_hva`` over Rad-CN, with the
    ``hypotheses`` ``(N, 3, R, R)`` image control, mirrored too), each at ``hva_scale``. The
    ceiling: ``real`` ``(N, R, R)`` test images and their true counterfactuals
    (``counterfactual.swap_boxes``); the floor: HVA-CN's images scored against another finding's
    gazed sides (a permutation drawn with ``test.seed``). ``names``: the arms' names (keys
    "hva", "oracle", "rg_eq5", "rg_paper")."""
    names = {**ARM_NAMES, **(names or {})}
    images, hits = {}, {}
    images["SD"] = [test.draw([], [], [], r) for r in range(seeds)]
    hits["SD"] = np.stack([test.hits(im, im) for im in images["SD"]])
    images[names["hva"]] = [test.both([eq5], [], [], test.gaze, test.mirrored, 1.0, r) for r in range(seeds)]
    hits[names["hva"]] = np.stack([test.hits(*ims) for ims in images[names["hva"]]])
    if oracle is not None:
        box = np.repeat(test.box_masks[:, None].astype(np.float32), 3, 1)
        images[names["oracle"]] = [test.both([oracle], [], [], box, counterfactual.mirror(box), 1.0, 0)]
        hits[names["oracle"]] = np.stack([test.hits(*ims) for ims in images[names["oracle"]]])
    if rad_cn is not None:
        scales = [rad_scale] * len(rad_controls)
        images[names["rg_eq5"]] = [test.both([*rad_cn["controlnets"], eq5], list(rad_controls), scales,
                                             test.gaze, test.mirrored, hva_scale, 0)]
        hits[names["rg_eq5"]] = np.stack([test.hits(*images[names["rg_eq5"]][0])])
        if paper_hva is not None and hypotheses is not None:
            images[names["rg_paper"]] = [test.both([*rad_cn["controlnets"], paper_hva], list(rad_controls), scales,
                                                   hypotheses, counterfactual.mirror(hypotheses), hva_scale, 0)]
            hits[names["rg_paper"]] = np.stack([test.hits(*images[names["rg_paper"]][0])])
    ceiling = np.full((1, len(test)), np.nan)
    if real is not None:
        swapped = np.stack([counterfactual.swap_boxes(im, b) for im, b in zip(real, test.boxes)])
        ceiling = test.hits(real, swapped)[None]
    perm = np.random.default_rng(test.seed).permutation(len(test))
    shuffled = np.stack([test.hits(o, m, perm) for o, m in images[names["hva"]]])
    return Arms(images, hits, ceiling, shuffled)


def evidence(test: PrimaryTest, arms: Arms, hva_name: str = HVA_CN_EQ5) -> dict[tuple[str, str], Evidence]:
    """The test's ``Evidence`` cells: (arm, ``GAZED_LUNG``) for every arm, the ceiling ("true
    counterfactual (ceiling)") and the shuffled gaze; (arm, ``DIFFERENCE``): the localiser-free
    endpoint (``counterfactual.difference_share`` of each pair inside the original and the
    mirrored box) for every gaze-guided arm, and for SD's seeds 0 vs 1 (a change of seed, for
    scale) when it has two."""
    cells = {(n, GAZED_LUNG): Evidence("mean", "higher", values=v) for n, v in arms.hits.items()}
    cells[("true counterfactual (ceiling)", GAZED_LUNG)] = Evidence("mean", "higher", values=arms.ceiling)
    cells[(f"{hva_name}, shuffled gaze", GAZED_LUNG)] = Evidence("mean", "higher", values=arms.shuffled)
    region = test.box_masks | test.mirrored_box_masks
    for n, ims in arms.images.items():
        if n != "SD":
            cells[(n, DIFFERENCE)] = Evidence("mean", "higher", values=np.stack(
                [counterfactual.difference_share(o, m, region) for o, m in ims]))
    if len(arms.images["SD"]) > 1:
        cells[("SD, seed 0 vs seed 1", DIFFERENCE)] = Evidence("mean", "higher", values=counterfactual.difference_share(
            arms.images["SD"][0], arms.images["SD"][1], region)[None])
    return cells


def rule_pairs(hva_name: str = HVA_CN_EQ5) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The rule's comparisons (A, B) of (arm, column) keys: HVA-CN (Eq. 5), the oracle and both
    RadGazeGen variants against SD, and HVA-CN against its shuffled gaze."""
    lung = GAZED_LUNG
    return [((hva_name, lung), ("SD", lung)), ((ARM_NAMES["oracle"], lung), ("SD", lung)),
            ((hva_name, lung), (f"{hva_name}, shuffled gaze", lung)),
            ((ARM_NAMES["rg_eq5"], lung), ("SD", lung)), ((ARM_NAMES["rg_paper"], lung), ("SD", lung))]


def comparisons(cells: dict[tuple[str, str], Evidence], pairs, n_boot: int = 1000, seed: int = 0):
    """Paired differences A - B (``core.intervals.paired_difference``, 95% interval over
    findings and seeds) for each pair of ``cells`` keys present; an arm run on fewer seeds than
    the other is compared on their common seed 0. A DataFrame naming both terms and columns."""
    import pandas as pd

    from radgazegen.core.intervals import paired_difference

    rows = []
    for a, b in pairs:
        if a not in cells or b not in cells:
            continue
        ea, eb = cells[a], cells[b]
        if ea.shape[0] != eb.shape[0]:
            ea, eb = (Evidence("mean", "higher", values=e.values[:1]) for e in (ea, eb))
        d = paired_difference(ea, eb, n_boot=n_boot, seed=seed)
        rows.append({"A (column)": f"{a[0]} ({a[1]})", "B (column)": f"{b[0]} ({b[1]})",
                     "A − B [95% interval]": d.text(3), "interval": "excludes 0, A higher" if d.favours_a
                     else "excludes 0, B higher" if d.favours_b else "contains 0",
                     "findings × seeds": f"{d.n_items} × {d.n_seeds}"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the chain, link by link

def chain_by_finding(test: PrimaryTest, arms: Arms, hva_name: str = HVA_CN_EQ5):
    """Per finding type and over all: the gaze mask's mass inside the box, whether its centre
    of mass lies in the box, the box's area (% of the image), the localiser's ceiling (the
    true counterfactual) and HVA-CN's primary endpoint (mean over seeds); ``findings``: how many."""
    import pandas as pd

    g0, masks, n = test.gaze[:, 0], test.box_masks, len(test)
    mass = (g0 * masks).reshape(n, -1).sum(1) / np.maximum(g0.reshape(n, -1).sum(1), 1e-9)
    centres = [counterfactual.centre_of_mass(g) for g in g0]
    centre_in = np.array([masks[i][int(round(y)), int(round(x))] for i, (x, y) in enumerate(centres)], float)
    per = pd.DataFrame({"finding": [it.finding for it in test.items], "gaze mask mass in the box": mass,
                        "gaze centre in the box": centre_in, "box area (% of image)": 100 * masks.mean((1, 2)),
                        "localiser ceiling (gazed lung)": arms.ceiling[0],
                        f"{hva_name} (gazed lung)": arms.hits[hva_name].mean(0)})
    chain = per.groupby("finding").mean().round(3)
    chain.loc["all"] = per.drop(columns="finding").mean().round(3)
    chain["findings"] = [*per.finding.value_counts().reindex(chain.index[:-1]).tolist(), n]
    return chain


def training_curve(test: PrimaryTest, arms: Arms, record: dict, hva_name: str = HVA_CN_EQ5):
    """The primary endpoint (seed 0) against HVA-CN's training step: step 0 is SD (zero
    convolutions: SD exactly), then each checkpoint chapter 06 kept (``record``: its models
    record, ``checkpoints`` and ``steps``), then the final model. Columns ``step``, ``gazed lung``."""
    import pandas as pd

    final = int(record.get("steps", {}).get(hva_name, 0))
    rows = [{"step": 0, GAZED_LUNG: float(arms.hits["SD"][0].mean())}]
    for ckpt in record.get("checkpoints", {}).get(hva_name, []):
        step = int(str(ckpt).rstrip("/").split("checkpoint-")[-1].split("/")[0])
        if step < final:  # the final model is scored in the arms
            rows.append({"step": step, GAZED_LUNG: float(test.hits(*test.both([ckpt], [], [], test.gaze, test.mirrored,
                                                                                 1.0, 0)).mean())})
    rows.append({"step": final, GAZED_LUNG: float(arms.hits[hva_name][0].mean())})
    return pd.DataFrame(rows).drop_duplicates("step").sort_values("step")


def dose_response(test: PrimaryTest, arms: Arms, eq5, scales: Sequence[float], n_boot: int = 1000,
                  hva_name: str = HVA_CN_EQ5):
    """The primary endpoint (seed 0) against HVA-CN's conditioning ``scales`` (0: SD; 1: the arm
    already drawn), with a 95% percentile-bootstrap interval over findings. Columns ``gaze scale``,
    ``gazed lung``, ``low``, ``high``."""
    import pandas as pd

    n, rows = len(test), []
    for s in scales:
        h = (arms.hits["SD"][0] if s == 0 else arms.hits[hva_name][0] if s == 1.0
             else test.hits(*test.both([eq5], [], [], test.gaze, test.mirrored, float(s), 0)))
        lo, hi = np.percentile([h[np.random.default_rng([test.seed, b]).integers(0, n, n)].mean() for b in range(n_boot)],
                               [2.5, 97.5])
        rows.append({"gaze scale": s, GAZED_LUNG: float(h.mean()), "low": lo, "high": hi})
    return pd.DataFrame(rows)


def primary_test(mask_items: Sequence, truth, sizes: dict, size: int, make_sampler: Callable, localiser,
                 steps: int, guidance: float, seed: int = 0) -> tuple[list, PrimaryTest | None]:
    """Set up the primary test from the gaze-mask test items (``run_items(..., gaze=True,
    gaze_control="mask", prompt="finding")``): its focal findings in one lung
    (``focal_in_one_lung`` on the ground truth ``truth``), their gaze masks as recorded and
    mirrored, lung masks and boxes on the ``size`` grid (image sizes ``sizes[dicom_id]``, w, h),
    drawn by ``make_sampler()`` (called only when the test runs) and scored by ``localiser``.
    Returns ``(items, test)``; ``test`` is None when fewer than 2 findings qualify. Used by
    chapter 13."""
    from radgazegen.core.vocabulary import HVA, SEGMENTATION
    from radgazegen.controls.gaze import finding_boxes
    from radgazegen.models import training_data

    boxes_of = lambda d, f=None: finding_boxes(truth, d, f)  # noqa: E731
    side_of = lambda d, f: truth[(truth.dicom_id == d) & (truth.label == f)].side.iloc[0]  # noqa: E731
    items = [mask_items[i] for i in focal_in_one_lung(mask_items, boxes_of, side_of)]
    if len(items) < 2:
        return items, None
    batch = training_data.ControlDataset(items, size, controls=[HVA, SEGMENTATION])(np.arange(len(items)))
    gaze_o = batch.conditioning[HVA].numpy()  # (N, 3, R, R) in [0, 1]
    return items, PrimaryTest(
        items, gaze_o, counterfactual.mirror(gaze_o),
        lungs=np.rint(batch.conditioning[SEGMENTATION][:, 0].numpy() * 255 / 127) > 0,
        boxes=[finding_boxes(truth, it.dicom_id, it.finding, sizes[it.dicom_id], size)[0] for it in items],
        sampler=make_sampler(), localiser=localiser, steps=steps, guidance=guidance, seed=seed)


def verdict_values(smallest_effect: float, primary: dict | None = None, test: PrimaryTest | None = None,
                   arms: Arms | None = None, cells: dict | None = None, seeds: int = 0) -> dict:
    """The values chapter 13 glues about the primary test (``pv_*``): the verdict of the rule and
    its reason, HVA-CN (Eq. 5) minus SD with its 95% interval, the gazed-lung rates of HVA-CN,
    the oracle, the ceiling and the shuffled gaze, the variance components, the findings x seeds
    a decision needs, and the localiser-free endpoint (``DIFFERENCE``, a ratio to the area
    share). ``primary``: the chapter's dict of the key comparison (``key``, ``oracle_key``,
    ``ceiling_low``, ``verdict``, ``between``, ``within``); defaults where the test did not run.
    Used by chapter 13."""
    nan = float("nan")
    pv = {"pv_verdict": "not run in this profile (mirrored_seeds = 0)", "pv_reason": "", "pv_diff": nan, "pv_low": nan,
          "pv_high": nan, "pv_rate": nan, "pv_oracle": nan, "pv_oracle_low": nan, "pv_ceiling": nan, "pv_ceiling_low": nan,
          "pv_pairs": "0", "pv_needed": "(not estimated)", "pv_between": nan, "pv_within": nan, "pv_items": 0,
          "pv_seeds": 0, "pv_smallest": smallest_effect, "pv_shuffled": nan, "pv_localiser_free": nan}
    if not primary:
        return pv
    k, v = primary["key"], primary["verdict"]
    share = cells[(HVA_CN_EQ5, DIFFERENCE)].values
    pv.update(pv_verdict=v.verdict, pv_reason=v.reason, pv_diff=k.difference, pv_low=k.low, pv_high=k.high,
              pv_rate=float(arms.hits[HVA_CN_EQ5].mean()),
              pv_oracle=float(arms.hits[ORACLE].mean()) if ORACLE in arms.hits else nan,
              pv_oracle_low=primary["oracle_key"].low if primary["oracle_key"] else nan,
              pv_ceiling=float(arms.ceiling.mean()), pv_ceiling_low=primary["ceiling_low"],
              pv_pairs=f"{k.n_items} × {k.n_seeds}", pv_items=len(test), pv_seeds=seeds,
              pv_needed=(f"about {v.needed:,} findings × {seeds} seeds" if v.needed > 0 else "(already decided)"),
              pv_between=primary["between"], pv_within=primary["within"], pv_shuffled=float(arms.shuffled.mean()),
              pv_localiser_free=float(np.nanmean(share) if np.isfinite(share).any() else nan))
    return pv


def decide_primary(cells: dict[tuple[str, str], Evidence], arms: Arms, seeds: int, smallest_effect: float,
                   n_boot: int = 1000, seed: int = 0, hva_name: str = HVA_CN_EQ5) -> dict:
    """The rule of the primary test on its ``evidence`` cells: HVA-CN (Eq. 5) minus SD in the
    gazed lung (``key``, a paired bootstrap interval over findings x seeds), the oracle minus SD
    (``oracle_key``, None without an oracle), the lower bound of the ceiling's interval, the
    variance components (``between``, ``within``) of HVA-CN's paired differences and
    ``counterfactual.decide``'s ``verdict``. Used by chapter 13."""
    key = paired_difference(cells[(hva_name, GAZED_LUNG)], cells[("SD", GAZED_LUNG)], n_boot=n_boot, seed=seed)
    oracle_key = (paired_difference(cells[(ORACLE, GAZED_LUNG)], cells[("SD", GAZED_LUNG)], n_boot=n_boot, seed=seed)
                  if ORACLE in arms.hits else None)
    _, ceiling_low, _ = counterfactual.interval(cells[("true counterfactual (ceiling)", GAZED_LUNG)], n_boot, seed)
    between, within = counterfactual.variance_components(arms.hits[hva_name] - arms.hits["SD"])
    verdict = counterfactual.decide(key, ceiling_low, oracle_key, between, within, seeds, smallest_effect)
    return dict(key=key, oracle_key=oracle_key, ceiling_low=ceiling_low, verdict=verdict, between=between, within=within)
