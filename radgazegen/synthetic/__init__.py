"""The synthetic cohort: the study's embedded default data, in the real datasets' layouts and conventions.

The real data of the paper (MIMIC-CXR, REFLACX, EGD-CXR, CheXpert test, MIMIC-CXR-LT) are
credentialed. This sub-package writes a seeded stand-in with exactly their file layouts and
column names (``../shared/notes/datasets.md``), so the readers in ``radgazegen.data``
that users run on the real releases are the ones the smoke and teach profiles exercise.

What is simulated, per radiograph:

- a phantom (``phantom``, drawn by ``anatomy`` and ``lesions``) with findings of the MIMIC-CXR-LT classes, labels
  drawn from a long tail like MIMIC-CXR-LT's (every class guaranteed a few images);
- a free-text report (FINDINGS / IMPRESSION) whose sentences name each finding with
  its side and zone, and normal statements for what is absent;
- for the gaze images, a radiologist's reading: a systematic search of the chest, then
  the dictation sentence by sentence; while a finding is dictated, from about 1.5 s
  before its sentence starts until its keyword (``labels.FINDING_KEYWORDS``) has been
  said, the gaze dwells on the finding. REFLACX readings (five readers on the held-out
  multi-reader images, one otherwise; a few with discarded eye tracking), EGD-CXR
  readings (screen coordinates, -1 for gaze off the image), raw gaze samples;
- the ground truth that real data lacks (``ground_truth/``): finding boxes and lung masks.

What it is not: anatomy, pathology or gaze behaviour of real patients and radiologists.
Numbers computed on it prove the wiring (smoke) or test claims against a known truth
(teach); they are not estimates of the paper's numbers.

Modules: ``config`` (CohortConfig, Case), ``phantom`` / ``anatomy`` / ``lesions`` (the
radiographs), ``reports`` (the dictation), ``reading`` (the simulated reading), one writer
per dataset mirroring the readers of ``radgazegen.data`` (``mimic``, ``reflacx``, ``egd``,
``mimic_lt``, ``chexpert``; each module's docstring lists the real release's conventions
it follows), ``files`` (byte-stable CSV / image writing) and ``cohort`` (the order of work,
the ground truth).

Units: pixels of the original image (x right, y down), seconds from the start of the
dictation (the audio recording).
"""
from radgazegen.synthetic.cohort import generate_cohort, generator_digest, load_lung_mask, read_ground_truth, truth_boxes
from radgazegen.synthetic.config import Case, CohortConfig, CohortSummary
from radgazegen.synthetic.phantom import Finding, Phantom, render_phantom

__all__ = ["Case", "CohortConfig", "CohortSummary", "Finding", "Phantom", "generate_cohort", "generator_digest",
           "load_lung_mask", "read_ground_truth", "render_phantom", "truth_boxes"]
