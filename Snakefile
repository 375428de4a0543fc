# fdiff: the experiments of "Factorized Diffusion Architectures for Unsupervised Image
# Generation and Segmentation" (Yuan and Maire), from downloads to tables and figures.
#
#   snakemake all --cores 2 --configfile config/demo.yaml   # the embedded demo, CPU, offline
#   snakemake --profile slurm all                           # the paper, on a SLURM cluster
#
# Targets: all, ablations, table1 ... table7, figures, and one per dataset (see docs/workflow.md).

from snakemake.utils import min_version, validate

min_version("9.0")


# An overlay of --configfile that names no experiments is refused (workflow/rules/overlay.smk).
include: "workflow/rules/overlay.smk"


# The paper's experiments, unless the command line names config files (--configfile
# config/demo.yaml): they then replace it instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"

else:
    check_overlay(workflow.overwrite_configfiles)


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        targets.all_targets(PLAN),


rule ablations:
    # The decoding ablations: their models and Table 6, which compares them.
    input:
        targets.ablation_targets(PLAN),


rule figures:
    input:
        targets.figure_files(PLAN),


for _n in targets.TABLES:

    rule:
        name:
            f"table{_n}"
        input:
            targets.table_files(PLAN, [_n]),


for _ds in sorted({e["dataset"] for e in EXPERIMENTS.values()}):

    rule:
        # Everything trained on the dataset or evaluated on it.
        name:
            _ds
        input:
            targets.dataset_targets(PLAN, _ds),
