"""The training objective of SD-CXR, Rad-CN, HVA-CN and the T2I-Adapter (§3.1-3.2.2, Eq. 4-6).

``NoiseObjective(parts, acc, mode, ...)(trained, batch, gen)`` is the loss of one micro-batch,
``|| ε - ε_θ(z_t, t, c, R) ||²``, with ε_θ picked once per run by ``mode``: the U-Net (SD-CXR),
a ControlNet on the frozen U-Net (Rad-CN, HVA-CN with frozen ControlNets added: Eq. 6's ⊕), or
a T2I-Adapter. ``training.train`` runs it under accelerate.

Symbols (§3.1-3.2): z_0 the VAE latents of x, ε ~ N(0, I) the noise, t the timestep, z_t the
noised latents, c the text states, R the control(s).

Several processes (``accelerate launch``): each process gets its rows of the global
micro-batch; the noise of *all* the global batch's items is drawn in every process from the
same generator and each keeps its rows, so item i is noised alike however many processes
share the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


@dataclass
class Batch:
    """A micro-batch. pixel_values ``(B, 3, S, S)`` in [-1, 1]; prompts: B strings;
    conditioning: control name -> ``(B, C, S, S)`` in [0, 1] (empty for SD-CXR); keys: the
    images' identities (``NoiseObjective``'s encoding cache), or None."""
    pixel_values: torch.Tensor
    prompts: list[str]
    conditioning: dict[str, torch.Tensor]
    keys: list[str] | None = None  # one per image, equal for equal images (the encoding cache's key)


def eq6_residuals(controlnets: Sequence, z_t: torch.Tensor, t: torch.Tensor, c: torch.Tensor,
                  controls: Sequence[torch.Tensor], scales: Sequence[float]):
    """Eq. 6's ⊕, the one implementation of it in the study: diffusers' ``MultiControlNetModel``,
    the module the stock ``StableDiffusionControlNetPipeline`` samples RadGazeGen with, so that
    HVA-CN trains over Rad-CN with the sum it is sampled with. Each ControlNet k runs on its
    control ``controls[k]`` ``(B, C_k, S, S)`` in [0, 1], its residuals are multiplied by
    ``scales[k]`` (0 switches it off: Eq. 6's indicator) and summed block by block.
    z_t ``(B, 4, h, w)``, t ``(B,)``, c ``(B, 77, D)``. Returns (down residuals, list of
    ``(B, C_j, h_j, w_j)``; mid residual)."""
    from diffusers.models import MultiControlNetModel

    return MultiControlNetModel(list(controlnets))(z_t, t, encoder_hidden_states=c, controlnet_cond=list(controls),
                                                   conditioning_scale=list(scales), return_dict=False)


class NoiseObjective:
    """The loss of one micro-batch, ``|| ε - ε_θ(z_t, t, c, R) ||²`` (MSE): SD-CXR's without a
    control (the U-Net trained), Rad-CN's L_R-CN (Eq. 4) with R = the radiomics maps, HVA-CN's
    L_HVA-CN (Eq. 5) with R = the gaze control V, and the T2I-Adapter's.

    ``mode`` ("unet" | "controlnet" | "adapter") picks ε_θ once; the frozen parts (VAE, text
    encoder, U-Net when not trained, ``frozen_controlnets``) are moved to the accelerator's
    device in the weight dtype of its mixed precision.

    ``cache``: the frozen encoders' outputs are computed once per image (``Batch.keys``) and per
    prompt, each encoded alone (so a value does not depend on the batch it first came in, and a
    resumed run reuses what an unbroken one would), then reused: the VAE posterior's mean and
    std, and the text states. z_0 is still drawn from the posterior at every step.
    """

    def __init__(self, parts, acc, mode: str, names: Sequence[str], frozen_controlnets: Sequence[tuple[object, str, float]],
                 proportion_empty_prompts: float = 0.0, cache: bool = False):
        self.parts, self.acc, self.names, self.frozen_controlnets = parts, acc, list(names), list(frozen_controlnets)
        self.p_empty = proportion_empty_prompts
        self.cache = cache
        self._posteriors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._states: dict[str, torch.Tensor] = {}
        self.device = acc.device
        self.wdtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(acc.mixed_precision, torch.float32)
        frozen = [parts.vae, parts.text_encoder] + ([parts.unet] if mode != "unet" else [])
        for m in frozen + [c for c, _, _ in self.frozen_controlnets]:
            m.to(self.device) if self.wdtype == torch.float32 else m.to(self.device, dtype=self.wdtype)
        self.latent_scale = getattr(parts.vae.config, "scaling_factor", 0.18215)
        self.eps_theta = {"unet": self._eps_unet, "controlnet": self._eps_controlnet, "adapter": self._eps_adapter}[mode]

    def __call__(self, trained, batch: Batch, gen: torch.Generator, rows: slice | None = None,
                 total: int | None = None) -> torch.Tensor:
        """The loss (scalar float32) of ``batch``; ``gen`` draws the sampling noise of z_0, ε, t and
        (with prompt dropout) which prompts are emptied, in that order. ``batch`` is ``rows`` of a
        global micro-batch of ``total`` items (one process of several; None: the whole batch)."""
        z_t, t, c, eps = self._noised(batch, gen, rows, total)
        with self.acc.autocast():
            pred = self.eps_theta(trained, batch, z_t, t, c)
        return F.mse_loss(pred.float(), eps.float())  # || ε - ε_θ(z_t, t, c, R) ||², Eq. 4 / Eq. 5

    def _noised(self, batch: Batch, gen: torch.Generator, rows: slice | None = None, total: int | None = None):
        """z_t = sqrt(ᾱ_t) z_0 + sqrt(1 - ᾱ_t) ε (the scheduler's forward process, Eq. 1) with z_0 a
        sample of the VAE posterior of x (mean + std · noise, as ``latent_dist.sample``), t uniform
        over the training timesteps; c: the prompts' text states.

        The noise is drawn for all ``total`` items of the global micro-batch, ``(total, C, h, w)``,
        and this batch's ``rows`` are kept: an item's z_0, ε, t and prompt dropout do not depend on
        how many processes share the batch."""
        parts, device, wdtype = self.parts, self.device, self.wdtype
        n = len(batch.prompts) if total is None else total
        rows = slice(0, n) if rows is None else rows
        mean, std = self._posterior(batch)
        shape = (n, *mean.shape[1:])
        noise = torch.randn(shape, generator=gen)[rows].to(device, mean.dtype)
        z_0 = (mean + std * noise) * self.latent_scale
        eps = torch.randn(shape, generator=gen)[rows].to(device, z_0.dtype)
        t = torch.randint(0, parts.scheduler.config.num_train_timesteps, (n,), generator=gen)[rows].to(device)
        prompts = list(batch.prompts)
        if self.p_empty > 0:  # c = the empty prompt's states for a share of the batch (trains the unconditional branch)
            empty = (torch.rand(n, generator=gen)[rows] < self.p_empty).tolist()
            prompts = ["" if e else p for p, e in zip(prompts, empty)]
        c = self._text_states(prompts).to(wdtype)
        return parts.scheduler.add_noise(z_0, eps, t), t, c, eps

    def _posterior(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE posterior's mean and std of the batch's images (each image encoded alone, once,
        with ``cache`` and keys)."""
        px = batch.pixel_values.to(self.device, dtype=self.wdtype)
        with torch.no_grad():
            if not (self.cache and batch.keys):
                posterior = self.parts.vae.encode(px).latent_dist
                return posterior.mean, posterior.std
            for i, key in enumerate(batch.keys):
                if key not in self._posteriors:
                    p = self.parts.vae.encode(px[i:i + 1]).latent_dist
                    self._posteriors[key] = (p.mean[0], p.std[0])
        return (torch.stack([self._posteriors[k][0] for k in batch.keys]),
                torch.stack([self._posteriors[k][1] for k in batch.keys]))

    def _text_states(self, prompts: list[str]) -> torch.Tensor:
        """c: the prompts' text states (each prompt encoded alone, once, with ``cache``)."""
        from radgazegen.models import encode_prompt

        with torch.no_grad():
            if not self.cache:
                return encode_prompt(self.parts, prompts, device=self.device, where="training prompt")
            for p in prompts:
                if p not in self._states:
                    self._states[p] = encode_prompt(self.parts, [p], device=self.device, where="training prompt")[0]
        return torch.stack([self._states[p] for p in prompts])

    def _frozen_controls(self, batch: Batch) -> list[torch.Tensor]:
        """The frozen ControlNets' own controls (Rad-CN's maps while HVA-CN trains), in the weight dtype."""
        return [batch.conditioning[name].to(self.device, self.wdtype) for _, name, _ in self.frozen_controlnets]

    def _control(self, batch: Batch) -> torch.Tensor:
        """R: the trained model's control(s), stacked as channels ``(B, sum C, S, S)``."""
        return torch.cat([batch.conditioning[n] for n in self.names], dim=1).to(self.device)

    def _eps_unet(self, trained, batch: Batch, z_t, t, c):
        """SD-CXR: ε_θ(z_t, t, c) of the trained U-Net (frozen ControlNets, if any, are not used)."""
        return trained(z_t, t, encoder_hidden_states=c).sample

    def _eps_controlnet(self, trained, batch: Batch, z_t, t, c):
        """Rad-CN / HVA-CN: the frozen U-Net with the residuals of F_θ (the trained ControlNet on R),
        after the frozen ControlNets' F^R_θ̂ (the trained Rad-CN while HVA-CN trains), fused by Eq. 6
        (``eq6_residuals``; the frozen ones carry no gradient: their weights are frozen)."""
        nets = [*(cn for cn, _, _ in self.frozen_controlnets), trained]
        down, mid = eq6_residuals(nets, z_t, t, c, [*self._frozen_controls(batch), self._control(batch)],
                                  [*(s for _, _, s in self.frozen_controlnets), 1.0])
        return self.parts.unet(z_t.to(self.wdtype), t, encoder_hidden_states=c,
                               down_block_additional_residuals=[x.to(self.wdtype) for x in down],
                               mid_block_additional_residual=mid.to(self.wdtype)).sample

    def _eps_adapter(self, trained, batch: Batch, z_t, t, c):
        """T2I-Adapter: the frozen U-Net with the adapter's features of R added in its down blocks
        (frozen ControlNets, if any, are not used)."""
        feats = trained(self._control(batch))
        return self.parts.unet(z_t.to(self.wdtype), t, encoder_hidden_states=c,
                               down_intrablock_additional_residuals=[f.to(self.wdtype) for f in feats]).sample

