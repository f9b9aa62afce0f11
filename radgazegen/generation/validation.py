"""Validation images of the training chapters (04, 05, 06): the functions ``training.train`` calls
every ``validate_every`` optimiser steps, and the rows of samples a chapter shows after training.

Every function samples the same prompts with the same seeds each time (one seed per prompt), so
that a change between two validations is the model's. ``sampling`` keywords are
``generation.generate``'s: ``steps`` (denoising steps), ``guidance`` (classifier-free guidance
scale), ``seeds`` (one per prompt) and ``resolution`` (pixels). Images are ``(N, R, R)`` uint8.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from radgazegen.generation import Sampler, generate, parts_pipeline


def sd_cxr_validator(parts, prompts: Sequence[str], *, scheduler: str, device: str, seed: int,
                     **sampling) -> Callable[[object, int], np.ndarray]:
    """``validate(unet, step)`` for SD-CXR's training (text only): ``prompts`` sampled by the
    parts being trained (``parts``, whose U-Net is trained in place) with seeds ``seed + i``.
    Used by chapter 04."""
    def validate(unet, step: int) -> np.ndarray:
        pipe = parts_pipeline(parts, scheduler=scheduler, device=device)
        return generate(pipe, prompts, seeds=[seed + i for i in range(len(prompts))], **sampling)
    return validate


def rad_cn_validator(sampler: Sampler, batch, control: str, **sampling) -> Callable[[object, int], np.ndarray]:
    """``validate(controlnet, step)`` for a ControlNet being trained on ``control``: the test
    ``batch``'s prompts and its ``control`` maps, through SD-CXR already loaded in ``sampler``.
    Used by chapter 05."""
    def validate(controlnet, step: int) -> np.ndarray:
        pipe = sampler.pipeline([controlnet])  # the model being trained on the SD-CXR already loaded
        return generate(pipe, batch.prompts, [batch.conditioning[control]], **sampling)
    return validate


def radgazegen_validator(sampler: Sampler, batch, rad_cn: Mapping, rad_cn_scale: float,
                         **sampling) -> Callable[[object, int], np.ndarray]:
    """``validate(hva_cn, step)`` for HVA-CN being trained over the frozen Rad-CN (``rad_cn``:
    chapter 05's registry entry, its ControlNets at scale ``rad_cn_scale``): RadGazeGen on the
    test ``batch``'s prompts, radiomics controls and gaze control (HVA-CN at scale 1). Used by
    chapter 06."""
    def validate(hva_cn, step: int) -> np.ndarray:
        pipe = sampler.pipeline([*rad_cn["controlnets"], hva_cn])  # the HVA-CN being trained, nothing reloaded
        return generate(pipe, batch.prompts, [*(batch.conditioning[c] for c in rad_cn["controls"]), batch.conditioning["hva"]],
                        scales=[rad_cn_scale] * len(rad_cn["controls"]) + [1.0], **sampling)
    return validate


def sample_rows(sampler: Sampler, batch, rows: Mapping[str, tuple[Sequence, Sequence[str], Sequence[float] | None]],
                **sampling) -> dict[str, np.ndarray]:
    """One row of samples per entry of ``rows`` (label -> (ControlNets: folders or models,
    their control names in ``batch.conditioning``, their conditioning scales or None for
    ``generate``'s default)), all on the test ``batch``'s prompts with the same seeds: label
    -> ``(N, R, R)`` uint8. Used by chapters 05 (Rad-CN, Multi-ControlNet) and 06 (Rad-CN,
    RadGazeGen)."""
    out = {}
    for label, (controlnets, controls, scales) in rows.items():
        scaled = {} if scales is None else {"scales": list(scales)}
        out[label] = generate(sampler.pipeline(controlnets), batch.prompts, [batch.conditioning[c] for c in controls],
                              **scaled, **sampling)
    return out
