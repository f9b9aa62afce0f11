"""Stand-in models: what the study trains on the cohort where the paper's pretrained weights
are absent, and the TorchXRayVision model where they are present.

| stand-in | replaces in the paper | used when |
| --- | --- | --- |
| ``StudyEncoder`` (``train_study_encoder``) | TorchXRayVision DenseNet-121 ``features2`` in D(f_B, f_H) (§3.2.2, notebook 03) | no TorchXRayVision weights folder is given |
| ``StudyImageFeatures`` (of that encoder) | Inception-v3 pool features in FID (Tables 1, 5; ``metrics.FID.study``) | no FID Inception weights file is given |
| ``StudyCLIP`` (``train_study_clip``, ``token_ids``) | CLIP ViT-B/16 in the CLIP score (Table 2) | no local CLIP model is given |
| ``train_classifier("densenet121", ...)`` | TorchXRayVision DenseNet-121 classifier (Table 3) | no TorchXRayVision weights folder is given |
| ``train_classifier("resnet50" / "resnet18", ...)`` | the paper's ResNet-50 trained on real + generated images (Table 4; resnet18 in CPU profiles) | always (the paper trains it too) |
| ``Localiser`` (``train_localiser``) | nothing: the pointing-game test of the gaze claim (notebook 13) | the synthetic cohort (its lesion boxes) |
| ``load_xrv_densenet``, ``XRVClassifier`` | the paper's TorchXRayVision DenseNet-121 itself | its weights are in a local folder |

Modules: ``fitting`` (seeding, the small models' minibatch loop), ``nets`` (the one resizer
``to_input``, the one CNN stem ``conv_stem``, ``StudyEncoder``, ``StudyImageFeatures``,
``Localiser``, save / load), ``clip``, ``classifiers``, ``xrv``. Images are ``(N, H, W)``
uint8 radiographs; every trainer is deterministic per seed on the CPU and returns
``(model in eval mode, mean loss per epoch)``.

This package sits at the models level: it imports ``radgazegen.core.io`` only; ``metrics`` and
``hypotheses`` import it (never the reverse, nor ``evaluation`` or ``training``).
"""
from radgazegen.standins.classifiers import (
    ARCHS, imagenet_input, load_classifier, new_classifier, predict, save_classifier, train_classifier,
)
from radgazegen.standins.clip import StudyCLIP, token_ids, train_study_clip
from radgazegen.standins.fitting import fit_epochs, seeded
from radgazegen.standins.nets import (
    Localiser, StudyEncoder, StudyImageFeatures, batched, conv_stem, load_module, save_module, to_input,
    train_localiser, train_study_encoder,
)
from radgazegen.standins.xrv import XRV_WEIGHTS, XRVClassifier, load_xrv_densenet, xrv_input

__all__ = [
    "ARCHS", "Localiser", "StudyCLIP", "StudyEncoder", "StudyImageFeatures", "XRVClassifier", "XRV_WEIGHTS",
    "batched", "conv_stem", "fit_epochs", "imagenet_input", "load_classifier", "load_module", "load_xrv_densenet",
    "new_classifier", "predict", "save_classifier", "save_module", "seeded", "to_input", "token_ids",
    "train_classifier", "train_localiser", "train_study_clip", "train_study_encoder", "xrv_input",
]
