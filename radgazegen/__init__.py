"""RadGazeGen reproducible study: the shared package the notebooks call.

Modules, one concern each:

- ``labels``   label vocabularies of MIMIC-CXR-LT, CheXpert, REFLACX and EGD-CXR
- ``phantom``  synthetic chest-radiograph phantoms with known findings and lung masks
- ``cohort``   the synthetic cohort, written in the real datasets' layouts
- ``data``     readers of MIMIC-CXR(-JPG), REFLACX, EGD-CXR, CheXpert test, MIMIC-CXR-LT
- ``split``    the paper's train / test split (§4, §4.1)
- ``figures``  plots shared by the notebooks
- ``runner``   the papermill runner behind ``python -m radgazegen``
- ``book``     helpers for the rendered Jupyter Book (profile banners)
"""
from radgazegen._compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
