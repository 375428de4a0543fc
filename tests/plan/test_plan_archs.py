"""The one arch registry (fdiff.config.ARCHS): the workflow's {arch} names, the config schema's
arch enum (JSON Schema cannot read Python: checked here) and the models' method labels."""

from __future__ import annotations

from pathlib import Path

import yaml

from fdiff.config import ARCH_VARIANTS, ARCHS, HIERARCHICAL, model_config_from_dict
from fdiff.plan.experiments import FACTORIZED_ARCHS, PRETRAINED

REPO = Path(__file__).resolve().parents[2]


def test_the_schema_enum_is_the_registry():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert sorted(schema["definitions"]["arch"]["enum"]) == sorted(ARCHS)


def test_each_arch_is_its_own_method_label():
    for name, (arch, decoding) in ARCHS.items():
        sub = {"sub_regions": 2} if name == HIERARCHICAL else {}
        model = model_config_from_dict({"arch": arch, "decoding": decoding, **sub})
        assert model.method == name


def test_the_cli_choices_leave_out_the_two_level_model():
    # --arch sets (arch, decoding) only; the two-level model also needs sub_regions
    assert set(ARCH_VARIANTS) == set(ARCHS) - {HIERARCHICAL}


def test_factorized_archs_are_the_segmenting_ones():
    assert "ddpm" not in FACTORIZED_ARCHS and PRETRAINED in FACTORIZED_ARCHS
    assert set(FACTORIZED_ARCHS) == {a for a, (arch, _) in ARCHS.items() if arch != "ddpm"} | {
        PRETRAINED
    }
