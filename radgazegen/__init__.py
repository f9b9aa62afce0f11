"""RadGazeGen reproducible study: the shared package the notebooks call.

The folders are the study's layers; imports point down only (``tests/test_architecture.py``):

- ``core`` (0) foundations: ``io`` atomic writes; ``artifacts`` the run directory's artifacts,
  who writes and who reads each (``Run``); ``intervals`` 95% intervals over findings and seeds;
  ``labels`` label vocabularies of MIMIC-CXR-LT, CheXpert, REFLACX, EGD-CXR; ``vocabulary`` the
  control names (canny, sobel, gl, segmentation, hva, unified); ``paper`` the paper's printed
  numbers (``paper_values.yaml``); ``progress`` progress bars on the console and in the run's log
- ``data`` (1) readers of the real releases: ``mimic`` MIMIC-CXR(-JPG), MIMIC-CXR-LT, CheXpert
  test; ``gaze_datasets`` REFLACX and EGD-CXR; ``records`` the records they return; ``split``
  the paper's train / test split (§4, §4.1)
- ``synthetic`` (1) the synthetic cohort in the real datasets' layouts: ``config``, ``cohort``,
  phantoms (``phantom``, ``anatomy``, ``lesions``), ``reports``, simulated readings
  (``reading``), one writer per dataset (``mimic``, ``reflacx``, ``egd``, ``mimic_lt``,
  ``chexpert``), ``files`` byte-stable writing, ``checks``
- ``standins`` (2) models trained here where the paper's weights are absent: ``nets`` the
  small networks, ``fitting`` their minibatch loop, ``clip`` the study CLIP, ``classifiers``
  (Tables 3-4), ``xrv`` the local TorchXRayVision DenseNet-121
- ``controls`` (2) the control maps: radiomics filter maps Canny, Sobel, GL (§3.2.1, the
  package itself); ``gaze`` HVA maps, time windows, masks (§3.2.2); ``segmentation`` lung
  masks; ``cache`` the per-image map cache; ``hypotheses`` gaze-guided hypotheses (Fig. 4)
- ``models`` (3) Stable Diffusion parts (§3.1, the package itself); ``training`` one training
  loop for SD-CXR, Rad-CN, HVA-CN; ``objective`` Eq. 4-6; ``checkpoints`` fingerprint, save,
  resume; ``training_data`` training items; ``launch`` N processes by ``accelerate launch``, or
  several models at once; ``control_gain`` whether a trained model uses its control
- ``generation`` (4) sampling with any subset of controls (the package itself); ``methods`` the
  generation methods (RadGazeGen, ablations, baselines) as one registry, Eq. 6's indicator
- ``metrics`` (5) the paper's metrics (§4.2, the package itself); ``evaluation`` what the
  table chapters share; ``paper_claims`` the paper's claims and their rules (chapter 14);
  ``counterfactual`` the mirrored and moved gaze (chapter 13); ``mirrored_gaze`` the central
  claim's primary test, its arms and chain (chapter 13); ``localisation`` the pointing game on
  the ground-truth boxes, the one box lookup (chapter 13); ``moved_gaze`` the moved-gaze test's
  steps (chapter 13); ``fidelity`` KID, PRDC;
  ``radiomics_distance`` a Fréchet Radiomics Distance; ``memorisation`` near-copies,
  re-identification, the publication guard; ``copy_controls`` the memorisation check's
  controls: over-trained model, copier, VAE round trip (chapter 15); ``ledger`` the claims checked on a run
  (``book/<profile>/claims.json``); ``results_summary`` chapter 14's claims table and
  counts; ``deviations`` a run's departures from the paper
- ``figures`` (6) plots shared by the notebooks (the package itself); ``book`` the profile
  banner; ``mirrored`` the primary test's figures; ``pointing`` the
  moved-gaze figure; ``privacy`` the memorisation chapter's figures; ``exercises`` the course's exercise checks
- ``study`` (7) the machinery: ``runner`` the papermill runner behind ``python -m radgazegen``;
  ``parameters`` the notebooks' parameters; ``dependencies`` what a step depends on (its
  cache fingerprint); ``runlock`` one runner per run; ``preflight`` the external resources a
  profile needs; ``publish`` the Jupyter Book build; ``launch_buttons`` Binder / Colab;
  ``course`` the student edition; ``screenshots`` pages through headless Chromium; ``bench``
  benchmarks that print figures; ``offline``, ``wheelhouse``, ``slim_wheels`` the air-gapped
  install; ``gpu_run`` one command for a lent GPU machine
"""
import logging
import warnings

from radgazegen._compat import ensure_torchvision_importable

ensure_torchvision_importable()
# Two library warnings the study cannot act on, kept out of the executed notebooks: tqdm.auto
# (imported by huggingface_hub) asks for ipywidgets in a Jupyter kernel, and diffusers' adapter
# pipeline calls its own deprecated decode_latents.
warnings.filterwarnings("ignore", message="IProgress not found")
warnings.filterwarnings("ignore", message="The decode_latents method is deprecated", category=FutureWarning)


class _NothingKeptInFloat32(logging.Filter):
    """diffusers warns on every ``model.to(dtype)`` of a model that lists modules to keep in
    float32, even when that list is empty (every model here): "should be kept in float32: []".
    With nothing to keep the warning says nothing; it filled the teach chapters (bf16 on a GPU)
    with dozens of identical blocks. A non-empty list still warns."""

    def filter(self, record) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


logging.getLogger("diffusers.models.modeling_utils").addFilter(_NothingKeptInFloat32())


def _whole_tables() -> None:
    """Tables in the executed chapters are shown whole: pandas cuts neither rows nor columns
    ("...") nor cell text (a claim's verdict); the book scrolls a wide table inside its cell."""
    import pandas as pd

    for option, value in (("display.max_columns", None), ("display.max_colwidth", None), ("display.width", 250),
                          ("display.max_rows", None)):
        pd.set_option(option, value)


_whole_tables()

__version__ = "0.1.0"
