"""Where a run departs from the paper, read from the run's own parameters (chapter 14's
section "Where this study departs from the paper").

``run_parameters(run_dir)`` gives chapter -> the parameters it ran with: each executed
notebook's parameters cell (the defaults) overridden by papermill's record of the values the
runner injected (``metadata.papermill.parameters``), from ``<run_dir>/notebooks/`` or a folder
of executed notebooks (``book/<profile>/``). ``deviations(params)`` turns
those into one ``(where, sentence)`` per departure, each sentence giving this run's value
beside the paper's (``PAPER``): the data, the control maps' size, the lung segmenter, the
hypotheses' features, SD-CXR, Rad-CN's design (one ControlNet per map or "unified"), the
training length, resolution and precision against the paper's, HVA-CN trained over Rad-CN
or as Eq. 5 writes it, the sampler, its steps and the conditioning scales against the
authors' released ones, and the stand-ins of the metrics. A chapter the run did not include
contributes nothing: the list describes the run, not the study.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The paper's configuration (§4.1 "Implementation details", printed) and the authors' released
#: sampler (lordmoinak1/radgazegen: UniPC, 50 steps, their negative prompt, conditioning scales
#: 0.1 per radiomics control and 0.001 for gaze on REFLACX, 0.01 each on CheXpert; no guidance
#: scale set, so diffusers' 7.5). Lengths in pixels of the model's input.
PAPER: dict[str, Any] = {
    "resolution": 512, "sd_steps": 50_000, "batch_size": 4, "grad_accum": 4, "lr": 1e-5, "mixed_precision": "fp16",
    "cn_epochs": 10, "control_size": 512, "canny": (40.0, 50.0), "gl_sigma": 1.0, "hva_sigma_px": 64.0,
    "hva_lambda": 120 / 255, "mask_dilate_px": 100, "mask_dilate_iterations": 3, "n_bag": 5,
    "scheduler": "unipc", "sample_steps": 50, "guidance": 7.5, "rad_cn_scale": 0.1, "hva_cn_scale": 0.001,
    "chexpert_scale": 0.01, "negative_prompt": "monochrome, lowres, bad anatomy, worst quality, low quality",
    "n_train": 3580, "n_test": 110,
}
#: ``sd_source`` values that build the parts from configs (``models.SIZES``): trained from scratch.
FROM_CONFIGS = ("tiny", "lesson", "small")


def run_parameters(source: str | Path) -> dict[str, dict[str, Any]]:
    """Chapter name (``"05_rad_cn"``) -> the parameters it ran with, for the chapters that ran:
    each executed notebook's parameters cell (its defaults, as the chapter's source had them)
    overridden by the values papermill injected (its record in the notebook's metadata).
    ``source``: a run directory (``runs/<profile>``: its ``notebooks/``) or a folder of executed
    notebooks (``book/<profile>/``). Without executed notebooks, the runner's record of each
    chapter's last successful run (``.state/<chapter>.json``: the injected values only). {} when
    there is neither."""
    source = Path(source)
    folder = source / "notebooks" if (source / "notebooks").is_dir() else source
    found: dict[str, dict[str, Any]] = {}
    for nb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        if "." in nb.stem:  # a .running / .failed copy
            continue
        data = json.loads(nb.read_text(encoding="utf-8"))
        used = (data.get("metadata", {}).get("papermill") or {}).get("parameters") or {}
        found[nb.stem] = {**_defaults(data), **used}
    if found:
        return found
    for state in sorted((source / ".state").glob("[0-9][0-9]_*.json")):
        record = json.loads(state.read_text(encoding="utf-8"))
        if isinstance(record.get("params"), dict):
            found[state.stem] = record["params"]
    return found


def _defaults(nb: dict) -> dict[str, Any]:
    """The literal values of a notebook's cell tagged ``parameters`` (``name: type = value``)."""
    import ast

    cell = next((c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    out = {}
    for node in ast.parse("".join(cell["source"])).body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                out[target.id] = ast.literal_eval(node.value)
            except ValueError:  # not a literal: left out, never guessed
                pass
    return out


def _chapter(params: dict[str, dict], number: str) -> dict[str, Any] | None:
    """The parameters of chapter ``number`` ("05"), None when the run did not include it."""
    return next((p for name, p in params.items() if name[:2] == number), None)


def _g(x) -> str:
    """A number as a reader writes it (1e-05, 0.001, 3.0 -> "3", 50000 -> "50,000"); "?" when absent."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "?" if x is None else str(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _training(p: dict, what: str, paper: str) -> str:
    """One sentence on a trained model's length, batch, learning rate, resolution and precision
    against the paper's (``paper``: its length, e.g. "10 epochs")."""
    length = f"{p['epochs']} epochs" if p.get("epochs", 0) > 0 else f"{_g(p.get('max_steps'))} optimiser steps"
    batch = _g(p.get("batch_size")) + (f" x {p['grad_accum']} accumulated" if p.get("grad_accum", 1) > 1 else "")
    precision = {"no": "fp32"}.get(p.get("mixed_precision", "no"), p.get("mixed_precision", "no"))
    return (f"{what} trains for {length} at batch {batch}, learning rate {_g(p.get('lr', float('nan')))}, "
            f"{_g(p.get('resolution'))} px, {precision} (the paper: {paper} at batch {PAPER['batch_size']} x "
            f"{PAPER['grad_accum']} accumulated, learning rate {_g(PAPER['lr'])}, {PAPER['resolution']} px, "
            f"{PAPER['mixed_precision']}).")


def deviations(params: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """This run's departures from the paper, from its parameters (``run_parameters``): a list of
    ``(where, sentence)``, ``where`` naming the chapters ("Rad-CN (05)"), in chapter order. A
    parameter left at the paper's value gives no sentence; a chapter the run did not include
    gives none either. Parameters a chapter may lack (older runs) are skipped, never guessed."""
    out: list[tuple[str, str]] = []
    add = lambda where, text: out.append((where, text))

    cohort, prep = _chapter(params, "00"), _chapter(params, "01")
    if cohort is not None:
        w, h = cohort.get("image_width"), cohort.get("image_height")
        held = (cohort.get("cohort_options") or {}).get("reflacx_multi_reader_images")
        add("Data (00, 01)", f"The synthetic cohort of chapter 00 ({_g(cohort.get('n_mimic'))} MIMIC-CXR-style "
            f"radiographs at {w}x{h} px" + (f", {held} held-out multi-reader images" if held else "") + ") stands in for "
            "MIMIC-CXR, REFLACX and EGD-CXR: it follows the releases' layouts and conventions, but its anatomy is a "
            "phantom's and its gaze is simulated.")
    elif prep is not None:
        add("Data (01)", f"The held-out set is REFLACX's five-reader images: the public release holds one fewer than "
            f"the paper's {PAPER['n_test']}, so the test set has one image less.")

    maps = _chapter(params, "02")
    if maps is not None:
        size = maps.get("control_size")
        if size is not None and size != PAPER["control_size"]:
            add("Controls (02)", f"Control maps are made at {size} px (the paper: {PAPER['control_size']} px); the "
                "HVA lengths (sigma, dilation) are the authors' values on real radiographs, rescaled with the image.")
        if (maps.get("canny_low"), maps.get("canny_high")) not in ((None, None), PAPER["canny"]):
            add("Controls (02)", f"Canny thresholds {_g(maps['canny_low'])}/{_g(maps['canny_high'])} (the authors: "
                f"{_g(PAPER['canny'][0])}/{_g(PAPER['canny'][1])}).")
        if maps.get("gl_sigma") not in (None, PAPER["gl_sigma"]):
            add("Controls (02)", f"Laplacian of Gaussian at sigma {_g(maps['gl_sigma'])} px (the authors: "
                f"{_g(PAPER['gl_sigma'])}).")
        if not maps.get("lung_unet_weights") and not maps.get("pspnet_cache_dir"):
            add("Controls (02)", "Rad-CN's segmentation control is the weight-free Otsu + morphology lung mask, not the "
                "lung U-Net of the paper's ref. [70] (its weights were not given).")
        for key, label in (("hva_sigma_px", "HVA sigma"), ("hva_lambda", "HVA threshold lambda")):
            if maps.get(key) is not None and abs(maps[key] - PAPER[key]) > 0.005 * PAPER[key]:
                add("Controls (02)", f"{label} {_g(maps[key])} (the authors: {PAPER[key]:.3g}).")

    hyp = _chapter(params, "03")
    if hyp is not None:
        if not hyp.get("xrv_weights_dir"):
            add("Hypotheses (03)", f"The features of D(f_B, f_H) come from an encoder trained on the cohort "
                f"({hyp.get('encoder_epochs', '?')} epochs at {hyp.get('encoder_size', '?')} px), not TorchXRayVision's "
                "DenseNet-121 (its weights were not given).")
        if hyp.get("n_bag") not in (None, PAPER["n_bag"]):
            add("Hypotheses (03)", f"Bags of {hyp['n_bag']} images (the authors: up to {PAPER['n_bag']}).")
        add("Hypotheses (03)", "The paper's selection rule (the largest D) is used; chapter 03 shows what the authors' "
            "released script (the largest MSE, the mask returned) would pick instead.")

    shared = next((p for p in params.values() if p.get("proportion_empty_prompts")), None)
    if shared is not None:
        add("Training (04-06)", f"{shared['proportion_empty_prompts']:.0%} of the training prompts are emptied (not "
            "stated by the paper), so that classifier-free guidance has a trained unconditional branch.")

    sd = _chapter(params, "04")
    if sd is not None:
        source = str(sd.get("sd_source", ""))
        if source in FROM_CONFIGS:
            add("SD-CXR (04)", f"SD-CXR is a small latent diffusion model built from the study's {source!r} configs and "
                "trained from scratch, not Stable Diffusion v1.5 fine-tuned.")
        add("SD-CXR (04)", _training(sd, "SD-CXR", f"{_g(PAPER['sd_steps'])} steps"))
        if sd.get("train_images") == "gaze-train":
            add("SD-CXR (04)", "SD-CXR trains on the gaze split's training images only (the paper: MIMIC-CXR's train "
                "split).")

    rad = _chapter(params, "05")
    if rad is not None:
        controls = ", ".join(rad.get("controls", [])) or "?"
        if rad.get("design") == "unified":
            add("Rad-CN (05)", f"Rad-CN is one ControlNet reading the maps as channels ({controls}; design \"unified\"), "
                "trained once; the authors' released inference loads one ControlNet per map and sums their residuals "
                "(Eq. 6), so switching one map off (Table 5) is not the same operation here.")
        elif rad.get("design") == "per-map":
            add("Rad-CN (05)", f"Rad-CN is one ControlNet per map ({controls}), combined zero-shot by Eq. 6, as the "
                "authors' released inference does.")
        what = "Rad-CN" if rad.get("design") == "unified" else "Each Rad-CN ControlNet"
        add("Rad-CN (05)", _training(rad, what, f"{PAPER['cn_epochs']} epochs"))
        if rad.get("train_baselines") is False:
            add("Rad-CN (05)", "The baselines (single-control ControlNet, T2I-Adapter) are not trained: their rows of "
                "Tables 1, 2 and 4 are not computed.")

    hva = _chapter(params, "06")
    if hva is not None:
        scale = hva.get("rad_cn_scale")
        if scale is not None:
            add("HVA-CN (06)", f"HVA-CN is trained over the frozen Rad-CN at conditioning scale {_g(scale)} (§3.2.2: "
                "the gaze control is \"fed to the trained Rad-CN\"); Eq. 5 writes HVA-CN's loss with the gaze control "
                "alone, so training it over Rad-CN is this study's reading.")
        eq5_steps = hva.get("eq5_steps") or hva.get("max_steps")
        if hva.get("train_eq5"):
            add("HVA-CN (06)", f"An HVA-CN is also trained as Eq. 5 writes it ({_g(eq5_steps)} optimiser steps): the gaze "
                "control alone, no Rad-CN, on prompts without place words, its control the dilated gaze mask (what the "
                "authors' released hypothesis script returns) rather than the paper's hypothesis image.")
        if hva.get("train_oracle"):
            add("HVA-CN (06)", f"An oracle ControlNet, whose control is the finding's box itself, is trained like HVA-CN "
                f"({_g(hva.get('oracle_steps') or eq5_steps)} optimiser steps): the ceiling of what a place control can "
                "do at this budget (not in the paper).")
        add("HVA-CN (06)", _training(hva, "HVA-CN", f"{PAPER['cn_epochs']} epochs"))
        if hva.get("train_baselines") is False:
            add("HVA-CN (06)", "The gaze-only baselines (ControlNet, T2I-Adapter on the gaze control) are not trained.")

    first = _chapter(params, "07") or {}
    for number, where in (("07", "Generation (07)"), ("13", "Moved gaze (13)")):
        gen = _chapter(params, number)
        if gen is None:
            continue
        differs = lambda *keys: number == "07" or any(gen.get(k) != first.get(k) for k in keys)  # 13: only what 07 did not say
        if (gen.get("sample_steps") not in (None, PAPER["sample_steps"]) or gen.get("scheduler") not in (None, PAPER["scheduler"])) \
                and differs("sample_steps", "scheduler"):
            name = lambda x: {"unipc": "UniPC", "ddim": "DDIM", "euler": "Euler"}.get(str(x), str(x))
            add(where, f"Sampling with {_g(gen.get('sample_steps'))} {name(gen.get('scheduler', '?'))} steps (the "
                f"authors' released sampler: {PAPER['sample_steps']} {name(PAPER['scheduler'])} steps).")
        if gen.get("guidance") not in (None, PAPER["guidance"]) and differs("guidance"):
            add(where, f"Classifier-free guidance {_g(gen['guidance'])} (the authors set none: diffusers' "
                f"{_g(PAPER['guidance'])}).")
        scales = [(name, gen[key]) for key, name in (("rad_cn_scale", "Rad-CN"), ("hva_cn_scale", "HVA-CN")) if key in gen]
        if any(v != PAPER[key] for key, v in ((k, gen[k]) for k in ("rad_cn_scale", "hva_cn_scale") if k in gen)) \
                and differs("rad_cn_scale", "hva_cn_scale"):
            add(where, f"Conditioning scales {', '.join(f'{n} {_g(v)}' for n, v in scales)} (the authors' released "
                f"sampler on REFLACX: {_g(PAPER['rad_cn_scale'])} per radiomics control, "
                f"{_g(PAPER['hva_cn_scale'])} for the gaze control, close to off).")
        if number == "07":
            if "negative_prompt" in gen and gen["negative_prompt"] != PAPER["negative_prompt"]:
                ours = f"Negative prompt {gen['negative_prompt']!r}" if gen["negative_prompt"] else "No negative prompt"
                add(where, f"{ours} (the authors: \"{PAPER['negative_prompt']}\").")
            if gen.get("methods_generated"):
                add(where, f"Only {', '.join(gen['methods_generated'])} are generated: the tables' other rows are not "
                    "computed.")
            if "roentgen_dir" in gen and not gen["roentgen_dir"]:
                add(where, "RoentGen is not generated (its weights were not given).")
            if gen.get("n_generate", -1) not in (-1, None):
                add(where, f"{gen['n_generate']} test findings per method, not every one.")
            if gen.get("n_replicates", 1) > 1:
                add(where, f"Every method generates the test set with {gen['n_replicates']} seeds (the paper reports "
                    "one generation).")

    for number, table in (("08", "Table 1 (08)"), ("12", "Table 5 (12)")):
        fid = _chapter(params, number)
        if fid is not None and not fid.get("inception_weights"):
            add(table, "FID is computed on the study's encoder trained on the cohort (\"FID (study features)\"), "
                "not Inception-v3: its values are not the paper's quantity and no difference to the paper is shown.")
    if _chapter(params, "12") is not None:
        add("Table 5 (12)", "Its \"HVA-CN\" row is HVA-CN without the Rad-CN it was trained over (the paper's row), "
            "outside its training.")
    clip = _chapter(params, "09")
    if clip is not None and not clip.get("clip_dir"):
        add("Table 2 (09)", f"The CLIP score is the study's image-report model trained on the cohort "
            f"({clip.get('clip_epochs', '?')} epochs), not CLIP ViT-B/16: not the paper's quantity.")
    auc = _chapter(params, "10")
    if auc is not None:
        if not auc.get("xrv_weights_dir"):
            add("Table 3 (10)", f"The classifier is a DenseNet-121 trained on the cohort at "
                f"{auc.get('classifier_size', '?')} px, not TorchXRayVision's: its AUCs are not the paper's.")
        if auc.get("control_scale") not in (None, PAPER["chexpert_scale"]):
            add("Table 3 (10)", f"Every control at conditioning scale {_g(auc['control_scale'])} (the authors on "
                f"CheXpert: {_g(PAPER['chexpert_scale'])}).")
        add("Table 3 (10)", "A test image's gaze control is chosen from its report, never from its labels; a report "
            "naming no finding gets no gaze control (Eq. 6's HVA indicator off).")
    lt = _chapter(params, "11")
    if lt is not None and lt.get("arch") not in (None, "resnet50"):
        add("Table 4 (11)", f"The long-tail classifier is a {lt['arch']} at {lt.get('classifier_size', '?')} px for "
            f"{lt.get('epochs', '?')} epochs (the paper: ResNet-50).")
    return out
