"""Tables dropped as they are into one LaTeX article and compiled with pdflatex (a test helper)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fdiff.report.render import LATEX_PACKAGES


def require_pdflatex() -> None:
    """Skip without pdflatex, or fail where CI asks for it (FDIFF_REQUIRE_PDFLATEX)."""
    if shutil.which("pdflatex") is None:
        if os.environ.get("FDIFF_REQUIRE_PDFLATEX"):
            pytest.fail("pdflatex not installed (apt-get install texlive-latex-recommended)")
        pytest.skip("pdflatex not installed")


def compile_tables(bodies: list[str], workdir: Path) -> str:
    """Compile one article holding each table body on its own page; assert a clean build.

    Returns the pdflatex log. Fails on an error, on an overfull box, or when a page or a table
    label is missing.
    """
    require_pdflatex()
    doc = workdir / "paper.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{" + ",".join(LATEX_PACKAGES) + "}\n"
        "\\begin{document}\n" + "\n\\clearpage\n".join(bodies) + "\\end{document}\n"
    )
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                       cwd=workdir, capture_output=True, text=True, timeout=120)  # fmt: skip
    log = (workdir / "paper.log").read_text(errors="replace")
    assert r.returncode == 0, r.stdout[-3000:]
    assert f"Output written on paper.pdf ({len(bodies)} page" in log
    assert "Overfull \\hbox" not in log, log[log.index("Overfull") :][:500]
    aux = (workdir / "paper.aux").read_text()
    assert aux.count("\\newlabel{tab:table") == len(bodies)
    return log
