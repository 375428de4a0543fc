"""Datasets: every source becomes one HDF5 file with the same schema (docs/contracts.md).

- :mod:`fdiff.data.hdf5`        the file format: writer, validation, numpy readers
- :mod:`fdiff.data.loader`      the torch Dataset and the fast uint8 loader (training uses it)
- :mod:`fdiff.data.shapes`      the synthetic shapes dataset (the embedded default)
- :mod:`fdiff.data.preprocess`  centre crop + antialiased resize (images), nearest (masks)
- :mod:`fdiff.data.registry`    URLs, checksums and sizes of every downloadable file
- :mod:`fdiff.data.download`    resumable, checksum-verified HTTPS downloads
- :mod:`fdiff.data.archives`    safe, all-or-nothing extraction of tar/zip archives
- :mod:`fdiff.data.sources`     one module per real dataset (``prepare`` functions)
"""
