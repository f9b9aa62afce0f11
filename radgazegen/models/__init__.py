"""Stable Diffusion parts for SD-CXR, Rad-CN and HVA-CN (§3.1-3.2), assembled one way.

``sd_parts(source, ...)`` returns the five parts of Stable Diffusion as ``SDParts``:
tokenizer, text encoder, VAE, U-Net and noise scheduler.

- ``source="tiny"`` (smoke), ``"lesson"`` and ``"small"`` (teach): parts built from configs with
  random weights; nothing is downloaded. The CLIP tokenizer is built offline from the BPE
  vocabulary that open_clip ships (ids identical to CLIP's).
- any other ``source``: a Stable Diffusion v1.5 hub id (e.g. ``runwayml/stable-diffusion-v1-5``)
  or a local directory in diffusers layout. A local directory that lacks a part is an error
  naming the path and the files expected there.

Images are ``(N, 1 or 3, S, S)`` in [-1, 1]; latents are ``(N, 4, S / f, S / f)`` with ``f``
the VAE's downsampling factor (8 for SD v1.5, 2 for the tiny VAE).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from radgazegen.core.io import write_json, write_text

#: The parts of a diffusers Stable Diffusion directory and the file each needs.
SD_LAYOUT = {"tokenizer": "tokenizer_config.json", "text_encoder": "config.json", "vae": "config.json",
             "unet": "config.json", "scheduler": "scheduler_config.json"}

#: CLIP's context length (tokens, including start and end).
MAX_TOKENS = 77


@dataclass
class SDParts:
    """The parts of Stable Diffusion. ``source`` says where they came from."""
    tokenizer: object
    text_encoder: object
    vae: object
    unet: object
    scheduler: object
    source: str

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


def clip_tokenizer_files(folder: str | Path) -> Path:
    """Write CLIP's tokenizer files (vocab.json, merges.txt, tokenizer_config.json) into ``folder``.

    Built from open_clip's shipped ``bpe_simple_vocab_16e6.txt.gz`` exactly as CLIP builds
    its vocabulary: 256 byte symbols, their ``</w>`` forms, 48,894 merges, two special tokens.
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    folder = Path(folder)
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder
    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    write_json(folder / "vocab.json", {v: i for i, v in enumerate(vocab)})
    write_text(folder / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    write_json(folder / "tokenizer_config.json", {
        "model_max_length": MAX_TOKENS, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "do_lower_case": True,
        "tokenizer_class": "CLIPTokenizer"})
    return folder


def clip_tokenizer(folder: str | Path):
    """A ``transformers.CLIPTokenizer`` built offline (files written to ``folder`` if absent)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(clip_tokenizer_files(folder)))


#: Config sizes of the parts built from scratch. "tiny": CPU seconds (smoke; 64 px through a 4x VAE:
#: 16x16 latents, like "lesson": a 2x VAE's 32x32 latents made the UNet's attention over 1,024
#: tokens half of the smoke run's sampling time); "lesson": a 2-core CPU in minutes (64 px, 4x VAE:
#: 16x16 latents); "small": one GPU within the teach budget.
SIZES = {
    "tiny": {"text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4),
             "vae": dict(block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8),
             "unet": dict(block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
                          attention_head_dim=4, norm_num_groups=8)},
    "lesson": {"text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
               "vae": dict(block_out_channels=(32, 64, 64), layers_per_block=1, norm_num_groups=16),
               "unet": dict(block_out_channels=(64, 128, 128), layers_per_block=1, cross_attention_dim=64,
                            attention_head_dim=8, norm_num_groups=32)},
    "small": {"text": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4),
              "vae": dict(block_out_channels=(64, 128, 128), layers_per_block=1, norm_num_groups=32),
              "unet": dict(block_out_channels=(64, 128, 256), layers_per_block=1, cross_attention_dim=256,
                           attention_head_dim=8, norm_num_groups=32)},
}


def _built(size: str, tokenizer_dir: str | Path, resolution: int) -> SDParts:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = SIZES[size]
    tokenizer = clip_tokenizer(tokenizer_dir)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), max_position_embeddings=MAX_TOKENS,
                                                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                                pad_token_id=tokenizer.pad_token_id, **cfg["text"]))
    nb = len(cfg["vae"]["block_out_channels"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=resolution,
                        down_block_types=("DownEncoderBlock2D",) * nb, up_block_types=("UpDecoderBlock2D",) * nb,
                        **cfg["vae"])
    nu = len(cfg["unet"]["block_out_channels"])
    unet = UNet2DConditionModel(
        sample_size=resolution // 2 ** (nb - 1), in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * (nu - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (nu - 1), **cfg["unet"])
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", clip_sample=False,
                              steps_offset=1, prediction_type="epsilon")
    return SDParts(tokenizer, text_encoder, vae, unet, scheduler, source=f"{size} (built from configs)")


def check_sd_directory(path: str | Path) -> Path:
    """A local diffusers Stable Diffusion directory, or ``FileNotFoundError`` naming what is missing."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: Stable Diffusion directory not found (expected the diffusers layout: "
                                + ", ".join(f"{k}/{v}" for k, v in SD_LAYOUT.items()) + ")")
    missing = [f"{k}/{v}" for k, v in SD_LAYOUT.items() if not (path / k / v).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: missing {', '.join(missing)} (a diffusers Stable Diffusion directory "
                                f"has {', '.join(f'{k}/{v}' for k, v in SD_LAYOUT.items())})")
    return path


def sd_parts(source: str, tokenizer_dir: str | Path = "runs/tokenizer", resolution: int = 512,
             local_files_only: bool = True) -> SDParts:
    """The Stable Diffusion parts from ``source``: "tiny", "small", a hub id or a local directory.

    resolution: image side in pixels (sets the built VAE / U-Net sample sizes).
    local_files_only: for hub ids, use only the local Hugging Face cache (no download).
    """
    if source in SIZES:
        return _built(source, tokenizer_dir, resolution)
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    looks_local = source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
    where = str(check_sd_directory(source)) if looks_local else source
    kw = {"local_files_only": local_files_only, "use_safetensors": True}  # never unpickle weights
    try:
        return SDParts(CLIPTokenizer.from_pretrained(where, subfolder="tokenizer", local_files_only=local_files_only),
                       CLIPTextModel.from_pretrained(where, subfolder="text_encoder", **kw),
                       AutoencoderKL.from_pretrained(where, subfolder="vae", **kw),
                       UNet2DConditionModel.from_pretrained(where, subfolder="unet", **kw),
                       DDPMScheduler.from_pretrained(where, subfolder="scheduler", local_files_only=local_files_only),
                       source=source)
    except OSError as exc:
        raise FileNotFoundError(f"{source}: Stable Diffusion weights not available locally ({exc}). Give a local "
                                "directory in diffusers layout, or a hub id already in the Hugging Face cache.") from None


def save_sd_parts(parts: SDParts, folder: str | Path) -> Path:
    """Save all parts as a stock ``StableDiffusionPipeline`` saves itself (``save_pretrained``:
    diffusers layout, safetensors, ``model_index.json``, the tokenizer's files), loadable by
    ``StableDiffusionPipeline.from_pretrained(folder)`` and by ``sd_parts(folder)``."""
    from diffusers import StableDiffusionPipeline

    folder = Path(folder)
    # a fast tokenizer keeps the padding and truncation of its last call (encode_prompt's) and
    # writes them into tokenizer.json: reset them, so the files do not depend on what ran before
    parts.tokenizer("", padding=False, truncation=False)
    pipe = StableDiffusionPipeline(vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
                                   unet=parts.unet, scheduler=parts.scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def encode_prompt(parts: SDParts, prompts: list[str], device="cpu", where: str = "prompt"):
    """Text embeddings ``(N, 77, D)`` of ``prompts``; prompts longer than 77 tokens are truncated
    with a warning naming ``where`` and how many tokens were cut."""
    import warnings

    import torch

    full = parts.tokenizer(prompts, padding=False, truncation=False)["input_ids"]
    for i, ids in enumerate(full):
        if len(ids) > parts.tokenizer.model_max_length:
            warnings.warn(f"{where} {i}: {len(ids)} tokens, truncated to {parts.tokenizer.model_max_length} "
                          f"({len(ids) - parts.tokenizer.model_max_length} cut)", stacklevel=2)
    ids = parts.tokenizer(prompts, padding="max_length", truncation=True, max_length=parts.tokenizer.model_max_length,
                          return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        return parts.text_encoder(ids)[0]


def new_controlnet(parts: SDParts, conditioning_channels: int = 3):
    """A ControlNet initialised from ``parts.unet`` (encoder copied, zero convolutions at 0).

    conditioning_channels: 3 for one map replicated to RGB, 4 for the unified radiomics
    control (Canny, Sobel, GL, lung mask as channels). The control's embedding downsamples by
    the VAE's factor, so the control image has the generated image's resolution.
    """
    import math

    from diffusers import ControlNetModel

    n = int(math.log2(parts.vae_scale_factor)) + 1
    return ControlNetModel.from_unet(parts.unet, conditioning_channels=conditioning_channels,
                                     conditioning_embedding_out_channels=(16, 32, 96, 256)[:n])


def new_adapter(parts: SDParts, conditioning_channels: int = 3, num_res_blocks: int = 2):
    """A T2I-Adapter (diffusers ``T2IAdapter``, full adapter) matched to ``parts.unet``'s blocks."""
    from diffusers import T2IAdapter

    return T2IAdapter(in_channels=conditioning_channels, channels=list(parts.unet.config.block_out_channels),
                      num_res_blocks=num_res_blocks, downscale_factor=parts.vae_scale_factor,
                      adapter_type="full_adapter")


def vae_round_trip(parts: SDParts, images, batch_size: int = 32):
    """``(N, H, W)`` uint8 grey images encoded by SD-CXR's VAE and decoded again (the latents'
    means, no sampling): the closest any image SD-CXR generates can come to a training image
    (chapter 15's ceiling of copying). Returns ``(N, H, W)`` uint8 (the channels' mean)."""
    import numpy as np
    import torch

    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.asarray(images[start:start + batch_size])).float()[:, None].repeat(1, 3, 1, 1) / 127.5 - 1
        with torch.no_grad():
            y = parts.vae.decode(parts.vae.encode(x).latent_dist.mean).sample
        out.append(((y.mean(1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy())
    return np.concatenate(out)
