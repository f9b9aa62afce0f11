"""RadGazeGen reproducible study: the shared package the notebooks call.

Modules, one concern each:

- ``labels``   label vocabularies of MIMIC-CXR-LT, CheXpert, REFLACX and EGD-CXR
- ``synthetic`` the synthetic cohort in the real datasets' layouts and conventions: phantoms
  (``phantom``, ``anatomy``, ``lesions``), reports, simulated readings, one writer per
  dataset (``mimic``, ``reflacx``, ``egd``, ``mimic_lt``, ``chexpert``), ``checks``
- ``data``     readers of MIMIC-CXR(-JPG), REFLACX, EGD-CXR, CheXpert test, MIMIC-CXR-LT
- ``split``    the paper's train / test split (§4, §4.1)
- ``vocabulary`` the control names (canny, sobel, gl, segmentation, hva, unified): the keys of
  control maps everywhere
- ``controls`` radiomics filter maps: Canny, Sobel, GL (§3.2.1)
- ``gaze``     HVA maps, per-finding time windows, thresholded masks (§3.2.2)
- ``segmentation`` lung masks: U-Net of ref. [70], TorchXRayVision PSPNet, weight-free method
- ``cache``    per-image cache of control maps under the run directory; per-finding HVA maps
- ``hypotheses`` gaze-guided hypotheses and their selection (§3.2.2, Fig. 4)
- ``methods``  the generation methods (RadGazeGen, its ablations, the baselines) as one registry
  built from the trained models; Eq. 6's indicator; the paper's row labels
- ``standins`` models trained here where the paper's weights are absent (study encoder, study
  CLIP, classifiers, lesion localiser; one resizer, one CNN stem, one minibatch loop) and the
  local TorchXRayVision DenseNet-121
- ``training_checkpoints`` checkpoints of the diffusion training loop: fingerprint, save, resume
- ``paper``    the paper's printed numbers, from ``paper_values.yaml``
- ``io``       atomic writes of artifacts
- ``artifacts`` the run directory's artifacts: who writes and who reads each (``Run``)
- ``figures``  plots shared by the notebooks
- ``runner``   the papermill runner behind ``python -m radgazegen``
- ``book``     what a chapter shows about itself in the book (the profile banner)
- ``publish``  the Jupyter Book build from a profile's executed notebooks
- ``bench``    benchmarks that print figures
- ``launch``   a chapter's model trained on N processes by ``accelerate launch`` (``train_processes``)
- ``counterfactual`` the gaze counterfactuals: the mirrored gaze (chapter 13's primary test, its
  endpoints, ceiling, floors and rule ``decide``) and the earlier moved gaze
- ``ledger``   the claims checked on a run's results, kept as ``book/<profile>/claims.json``
- ``deviations`` a run's departures from the paper, read from its parameters (chapter 14)
- ``fidelity`` fidelity beyond FID as CheXGenBench reports it: KID (torchmetrics), precision /
  recall / density / coverage (``prdc``), a Fréchet Radiomics Distance on the radiomics maps'
  statistics; as ``intervals.Evidence``, and per pathology
- ``memorisation`` near-copies of training images (nearest training image in features and
  pixels, copy rate, closest pairs), patient re-identification, and the publication guard
- ``exercises`` the course's exercise checks; ``course`` the student edition (``make course``)
- ``preflight`` the external resources a profile needs, found or missing (``check``)
- ``screenshots`` the built book's pages through headless Chromium (``make screenshots``)
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
    """Tables in the executed chapters are shown whole: pandas cuts neither columns ("...") nor
    cell text (a claim's verdict); the book scrolls a wide table inside its cell."""
    import pandas as pd

    for option, value in (("display.max_columns", None), ("display.max_colwidth", None), ("display.width", 250)):
        pd.set_option(option, value)


_whole_tables()

__version__ = "0.1.0"
