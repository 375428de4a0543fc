"""The paper's tables and figures, built by pure functions from result files (docs/report.md).

- :mod:`fdiff.report.results`: read metric files (eval-seg CSV, fid JSON, consistency JSON,
  per-class CSV, the quoted literature CSV) into typed records;
- :mod:`fdiff.report.specs`: the layout of Tables 1-7 (``SPECS``) and the finished
  :class:`~fdiff.report.specs.Table`;
- :mod:`fdiff.report.tables`: Tables 1-7 built from result files;
- :mod:`fdiff.report.notes`: the protocol notes under a table;
- :mod:`fdiff.report.render`: a table as CSV and as booktabs LaTeX (best value in bold);
- :mod:`fdiff.report.figures`: the figures (PNG and PDF) from samples, segmentation,
  interpolation and metric files.
"""
