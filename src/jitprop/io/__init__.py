"""What jitprop reads and writes: model files and the data set it ships.

* :mod:`~jitprop.io.model_file`: :func:`save`, :func:`load` and
  :func:`load_checkpoint` — a network, its optimizer and its random state in
  one safetensors file, read back by a reader that validates every byte.
* :mod:`~jitprop.io.datasets`: :func:`load_digits`, from ``data/``.
* :mod:`~jitprop.io._atomic`: :func:`write_atomically`, which every file
  jitprop writes goes through (a crash leaves the old file or the new one).

Reading a user's data files for the command line is the command line's
business: :mod:`jitprop.cli.data_files`.

This package imports nothing itself, so that the core (callbacks write logs
atomically) can use :mod:`._atomic` without loading the model-file reader.
"""
