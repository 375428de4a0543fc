"""fdiff.plan plans in Snakemake's environment (Snakemake, its plugin, PyYAML): it imports no
torch, numpy or pandas."""

from __future__ import annotations

import subprocess
import sys


def test_the_plan_imports_without_the_numeric_stack():
    code = (
        "import sys\n"
        "import fdiff.plan.checks, fdiff.plan.launch, fdiff.plan.scoring, fdiff.plan.targets\n"
        "print(sorted({'torch', 'numpy', 'pandas'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
