"""TorchXRayVision's DenseNet-121 from a local folder (nothing is downloaded).

The paper's models where their weights are present: ``features2`` (1024-d) for D(f_B, f_H)
(§3.2.2, ``hypotheses.XRVFeatures``) and the 18 pathology outputs for Table 3
(``XRVClassifier``). TorchXRayVision unpickles the weight file: use only weights you trust.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from radgazegen.standins.nets import batched

#: The TorchXRayVision weights whose ``features2`` the authors use (and Table 3's classifier).
XRV_WEIGHTS = "densenet121-res224-all"
#: TorchXRayVision's input side in px.
XRV_SIZE = 224


def load_xrv_densenet(weights_dir: str | Path, weights: str = XRV_WEIGHTS):
    """``xrv.models.DenseNet(weights=weights)`` read from ``weights_dir``, in eval mode on the CPU.

    weights_dir: folder holding TorchXRayVision's weight file for ``weights`` (the file name of
    its URL, e.g. ``nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt``).
    Unknown ``weights``: ``ValueError``; a missing file: ``FileNotFoundError`` (not downloaded).
    """
    import torchxrayvision as xrv

    if weights not in xrv.models.model_urls:
        raise ValueError(f"weights: unknown TorchXRayVision weights {weights!r}")
    fname = Path(xrv.models.model_urls[weights]["weights_url"]).name
    path = Path(weights_dir).expanduser() / fname
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TorchXRayVision weights {weights!r} not found (expected {fname} in "
                                f"{weights_dir}; they are not downloaded)")
    return xrv.models.DenseNet(weights=weights, cache_dir=str(Path(weights_dir).expanduser())).eval()


def xrv_input(images) -> torch.Tensor:
    """``(N, H, W)`` uint8 (or a list of ``(H, W)`` of any sizes) -> ``(N, 1, 224, 224)`` float32
    in [-1024, 1024], with TorchXRayVision's own preprocessing: ``xrv.datasets.normalize(image,
    255)``, then ``XRayCenterCrop`` (the central square of the long side: a non-square
    radiograph is cropped, not squashed), then ``XRayResizer(224)`` (OpenCV, area)."""
    import torchxrayvision as xrv

    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(XRV_SIZE, engine="cv2")
    out = []
    for im in images:
        im = np.asarray(im)
        if im.ndim != 2 or im.dtype != np.uint8:
            raise ValueError(f"TorchXRayVision input: expected (H, W) uint8 images, got {im.dtype} {im.shape}")
        out.append(resize(crop(xrv.datasets.normalize(im.astype(np.float32), 255)[None])))
    return torch.from_numpy(np.stack(out)) if out else torch.zeros((0, 1, XRV_SIZE, XRV_SIZE))


class XRVClassifier:
    """TorchXRayVision DenseNet-121 (``densenet121-res224-all``) from a local weights folder.

    ``__call__(images)``: ``(N, H, W)`` uint8 -> ``(N, 18)`` float32 probabilities in
    ``self.pathologies`` order.
    """

    def __init__(self, weights_dir: str | Path, weights: str = XRV_WEIGHTS, device: str = "cpu"):
        self.model = load_xrv_densenet(weights_dir, weights).to(device)
        self.pathologies = list(self.model.pathologies)
        self.name = f"TorchXRayVision DenseNet-121 ({weights})"
        self.device = device

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return batched(lambda b: self.model(xrv_input(b).to(self.device)).float().cpu().numpy(),
                       images, batch_size, len(self.pathologies))
