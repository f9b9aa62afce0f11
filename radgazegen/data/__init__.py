"""Readers of the datasets RadGazeGen uses, returning records of one common type.

These are the readers users run on the real releases; the study tests them on the
synthetic cohort, which is written in the same layouts (``radgazegen.synthetic``).

- **MIMIC-CXR-JPG / MIMIC-CXR** {cite}`johnson2019mimiccxr`: 377,110 JPG radiographs of
  227,827 studies, CheXpert-labeller labels per study, free-text reports.
- **REFLACX** {cite}`lanfredi2022reflacx`: 3,032 readings of 2,616 MIMIC-CXR images with
  eye tracking, time-stamped dictations and abnormality ellipses; phases 1-2 hold 109
  images read by five radiologists each.
- **EGD-CXR** {cite}`karargyris2021egd`: 1,083 MIMIC-CXR images read by one radiologist
  with eye tracking and dictation.
- **CheXpert test** {cite}`irvin2019chexpert`: 668 radiographs of 500 patients with 14
  labels; the paper prompts with reports generated for them (``reports.csv``).
- **MIMIC-CXR-LT** {cite}`holste2022mimiclt`: single-label 19-class long-tailed splits.

Conventions of every ``Record``: positions in pixels of the ORIGINAL image (x right,
y down); times in seconds from the start of the dictation's audio; labels in the
source's own vocabulary (``radgazegen.core.labels``). Fields a source lacks are empty.

TorchXRayVision's dataset classes (``xrv.datasets.MIMIC_Dataset``, ``CheX_Dataset``) read
the same label files but load pixels eagerly per item, filter views and carry neither gaze
nor reports; our records keep paths and load pixels on demand (``load_image``). The tests
check that ``MIMIC_Dataset`` reads the synthetic MIMIC-CXR-JPG files, so the layout agrees
with an independent implementation.

One module per concern: ``records`` (the record types, ``DataError``, shared helpers),
``mimic`` (MIMIC-CXR-JPG, CheXpert test, MIMIC-CXR-LT, image loading), ``gaze_datasets``
(REFLACX, EGD-CXR); every public name is importable from ``radgazegen.data``.
"""
from __future__ import annotations

from radgazegen.data.gaze_datasets import (  # noqa: F401
    REFLACX_FIXATION_COLUMNS, read_reflacx, EGD_FIXATION_COLUMNS, _phrase_words, read_egd_cxr,
)
from radgazegen.data.mimic import (  # noqa: F401
    read_mimic_cxr, read_chexpert, read_mimic_lt, load_image, load_dicom, records_frame,
)
from radgazegen.data.records import (  # noqa: F401
    FIXATION_COLUMNS, LT_FILES, WORD_COLUMNS, Box, DataError, Record, Records,
)
