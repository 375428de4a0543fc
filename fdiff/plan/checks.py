"""The config checks the schema cannot make: names that must agree across sections, and every
run config built as `fdiff train` will build it, so that a typo fails when the plan is made,
not hours later on a compute node. Each failure is one line naming the key."""

from __future__ import annotations

from fdiff.config import ARCHS, HIERARCHICAL, RunConfig
from fdiff.errors import FdiffError
from fdiff.plan.experiments import Plan


def check_config(plan: Plan) -> None:
    """Raise ValueError (one line) on the first inconsistency of the plan's config."""
    _check_experiments(plan)
    _check_tables_and_figures(plan)
    _check_run_configs(plan)


def _check_experiments(plan: Plan) -> None:
    datasets = plan.datasets
    for name, exp in plan.experiments.items():
        if name != f"{exp['dataset']}-{exp['res']}":
            raise ValueError(
                f"config: experiment {name!r} must be named dataset-res = "
                f"{exp['dataset']}-{exp['res']!r}"
            )
        for ds in [exp["dataset"], *(e["data"] for e in exp["evaluations"])]:
            if ds not in datasets:
                raise ValueError(
                    f"config: experiment {name!r} uses dataset {ds!r}, which is not under "
                    f"`datasets` (known: {sorted(datasets)})"
                )
        if exp["consistency"] and exp["consistency"] not in datasets:
            raise ValueError(f"config: {name}.consistency: unknown dataset {exp['consistency']!r}")
        for arch in exp["ablations"]:
            if arch in exp["archs"]:
                raise ValueError(f"config: {name}: arch {arch!r} is in archs and in ablations")
        for arch in exp["arch_overrides"]:
            if arch not in ARCHS:
                raise ValueError(f"config: {name}.arch_overrides: unknown arch {arch!r}")
        if HIERARCHICAL in plan.all_archs(name) and not plan.sub_regions(name) >= 2:
            raise ValueError(
                f"config: {name}: arch hierarchical needs arch_overrides.hierarchical.model."
                "sub_regions >= 2"
            )
        # A shard must start on a batch boundary of the whole set (fdiff.inference.sample_shards).
        s = exp["sample"]
        if s["shard_size"] % s["batch_size"]:
            raise ValueError(
                f"config: experiments.{name}.sample.shard_size {s['shard_size']} must be a "
                f"multiple of its batch_size {s['batch_size']}"
            )


def _check_tables_and_figures(plan: Plan) -> None:
    experiments = plan.experiments
    for key, table in plan.config["tables"].items():
        exp = table["experiment"]
        if exp is None:
            continue
        if exp not in experiments:
            raise ValueError(f"config: tables.{key}: unknown experiment {exp!r}")
        if table["data"] is not None and table["data"] not in plan.eval_datasets(exp):
            raise ValueError(f"config: tables.{key}: {exp} has no evaluation on {table['data']!r}")
    figures = plan.config["figures"]
    real = figures["real_segmentation"]["experiment"]
    real_archs = experiments[real]["archs"] if real in experiments else []
    if real is not None and "factorized" not in real_archs:
        raise ValueError(
            f"config: figures.real_segmentation: {real!r} is no experiment with a factorized model"
        )
    interp = figures["interpolation"]["experiment"]
    if interp is not None and interp not in experiments:
        raise ValueError(f"config: figures.interpolation: unknown experiment {interp!r}")


def _check_run_configs(plan: Plan) -> None:
    for name in plan.experiments:
        for arch in plan.all_archs(name):
            try:
                RunConfig.from_dict(
                    plan.run_config(name, arch), f"config: experiments.{name} ({arch})"
                )
            except FdiffError as e:  # one line naming the key
                raise ValueError(str(e)) from None
