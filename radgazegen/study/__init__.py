"""The study's machinery (layer 7): runner, parameters, cache fingerprints, publishing, course,
benchmarks, installs. The module map is in ``radgazegen``."""
