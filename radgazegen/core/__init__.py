"""Foundations (layer 0): atomic IO, the run directory's artifacts and intervals, vocabularies,
the paper's numbers, progress lines. The module map is in ``radgazegen``."""
