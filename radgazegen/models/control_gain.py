"""Does a trained control model use its control? Its held-out loss with the control and without.

A ControlNet starts as its U-Net's copy with zero convolutions at its outputs (§3.2.1): until those
grow, it adds nothing, and its training loss is the frozen SD-CXR's. A loss curve alone cannot
tell a ControlNet that learned from one that did not (teach's first GPU run: every ControlNet and
adapter ended at 0.334, the frozen model's loss). This module measures the difference directly:
on held-out items, the noise-prediction MSE of Eq. 4 / Eq. 5,
``|| ε - ε_θ(z_t, t, c, R) ||²``, computed twice with the *same* z_t, t, ε and prompt, once with
the model's residuals at conditioning scale 1 and once at scale 0 (Eq. 6's indicator switched
off: the frozen model, with any frozen ControlNets beside it still on). The *control gain* is the
share of the frozen model's loss the control removes, ``(L_off - L_on) / L_off``, with a paired
bootstrap interval over items.

Used by chapters 05 and 06 (a row per trained model) and by the test that a ControlNet learns
within a stated number of steps (``tests/test_control_gain.py``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from radgazegen.models.objective import Batch, NoiseObjective, eq6_residuals


def heldout_losses(parts, model, dataset, control_name: str | Sequence[str], kind: str = "controlnet",
                   frozen_controlnets: Sequence[tuple[object, str, float]] = (), n_timesteps: int = 4,
                   seed: int = 0, batch_size: int = 16) -> pd.DataFrame:
    """Per held-out item, the mean noise-prediction MSE over ``n_timesteps`` draws of (z_0, ε, t),
    with the model's control (``with control``) and with it off (``control off``, scale 0).

    parts: ``models.SDParts`` (SD-CXR); model: the trained ``ControlNetModel`` or ``T2IAdapter``
    (``kind`` "controlnet" | "adapter"); dataset(indices) -> ``Batch`` of held-out items (its
    ``len`` the number of items); control_name: the conditioning key(s) the model reads;
    frozen_controlnets: ``(controlnet, control, scale)`` kept on in both (HVA-CN over Rad-CN).
    The draws of item i come from a generator seeded by ``(seed, i)``: the same for both terms
    and for every model scored with the same ``seed``. fp32, no autocast, on accelerate's device. Returns columns
    ``item``, ``with control``, ``control off`` (MSE, unitless: ε ~ N(0, I) gives about 1 for a
    model that predicts 0)."""
    if kind not in ("controlnet", "adapter"):
        raise ValueError(f"kind: expected 'controlnet' or 'adapter', got {kind!r}")
    names = [control_name] if isinstance(control_name, str) else list(control_name)
    from radgazegen.models.training import accelerator

    acc = accelerator("no")
    for m in (parts.vae, parts.text_encoder, parts.unet, *(cn for cn, _, _ in frozen_controlnets)):
        m.float()  # a bf16 training run leaves the frozen parts in bf16: these losses are fp32
    objective = NoiseObjective(parts, acc, "controlnet", names, frozen_controlnets, cache=False)
    model = model.to(acc.device).float().eval()
    rows = []
    n = len(dataset)
    for a in range(0, n, batch_size):
        idx = np.arange(a, min(n, a + batch_size))
        batch = dataset(idx)
        on, off = np.zeros(len(idx)), np.zeros(len(idx))
        for k in range(n_timesteps):
            draws = []
            for j, i in enumerate(idx):  # each item's own draws (seeded by item and k): independent of the batching
                one = Batch(batch.pixel_values[j:j + 1], batch.prompts[j:j + 1], {})
                gen = torch.Generator().manual_seed(int(np.random.default_rng([seed, int(i), k]).integers(2 ** 62)))
                draws.append(objective._noised(one, gen))
            z_t, t, c, eps = (torch.cat([d[m] for d in draws]) for m in range(4))
            with torch.no_grad():
                for scale, out in ((1.0, on), (0.0, off)):
                    pred = _eps(objective, model, kind, batch, z_t, t, c, scale)
                    out += ((pred.float() - eps.float()) ** 2).mean(dim=(1, 2, 3)).cpu().numpy() / n_timesteps
        rows += [{"item": int(i), "with control": float(x), "control off": float(y)} for i, x, y in zip(idx, on, off)]
    return pd.DataFrame(rows)


def _eps(objective: NoiseObjective, model, kind: str, batch: Batch, z_t, t, c, scale: float) -> torch.Tensor:
    """ε_θ(z_t, t, c, R) of the frozen U-Net with the model's residuals times ``scale`` (Eq. 6)."""
    parts = objective.parts
    if kind == "adapter":
        feats = model(objective._control(batch))
        return parts.unet(z_t, t, encoder_hidden_states=c,
                          down_intrablock_additional_residuals=[f * scale for f in feats]).sample
    nets = [*(cn for cn, _, _ in objective.frozen_controlnets), model]
    down, mid = eq6_residuals(nets, z_t, t, c, [*objective._frozen_controls(batch), objective._control(batch)],
                              [*(s for _, _, s in objective.frozen_controlnets), scale])
    return parts.unet(z_t, t, encoder_hidden_states=c, down_block_additional_residuals=down,
                      mid_block_additional_residual=mid).sample


def control_gain(losses: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """The control gain of ``heldout_losses``' table: ``loss with control``, ``loss off`` (means over
    items), ``gain`` = (off - on) / off (a share: 0 = the control changes nothing, 1 = no error
    left) with ``low`` and ``high`` (95% paired bootstrap over items, the ratio recomputed per
    resample), and ``n items``."""
    on, off = losses["with control"].to_numpy(), losses["control off"].to_numpy()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(on), (n_boot, len(on)))
    ratios = 1.0 - on[draws].mean(1) / off[draws].mean(1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return {"loss with control": float(on.mean()), "loss off": float(off.mean()), "gain": float(1 - on.mean() / off.mean()),
            "low": float(low), "high": float(high), "n items": int(len(on))}


def gain_table(sd_dir, models: Sequence[dict], dataset, n_timesteps: int = 4, seed: int = 0,
               n_boot: int = 1000) -> pd.DataFrame:
    """``control_gain`` of each trained model on the held-out ``dataset`` (chapters 05 and 06), SD-CXR
    (``sd_dir``) loaded once. models: dicts with ``name``, ``folder`` (``save_pretrained``), ``kind``
    ("controlnet" | "adapter"), ``control`` (its conditioning key(s)) and optionally ``frozen``:
    ``(folder, control, scale)`` of ControlNets kept on in both terms (HVA-CN over Rad-CN). One row
    per model: model, loss with control, loss off, gain, low, high, n items."""
    from diffusers import ControlNetModel, T2IAdapter

    from radgazegen.models import sd_parts

    parts = sd_parts(str(sd_dir))
    rows = []
    for m in models:
        loader = ControlNetModel if m.get("kind", "controlnet") == "controlnet" else T2IAdapter
        frozen = [(ControlNetModel.from_pretrained(str(d)), c, s) for d, c, s in m.get("frozen", ())]
        losses = heldout_losses(parts, loader.from_pretrained(str(m["folder"])), dataset, m["control"],
                                m.get("kind", "controlnet"), frozen, n_timesteps, seed)
        rows.append({"model": m["name"], **control_gain(losses, n_boot, seed)})
    return pd.DataFrame(rows)
